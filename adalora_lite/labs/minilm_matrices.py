"""MiniLM's 36 adapted matrices: which ones a placement adapts, and where the rank went.

The six adapted matrices of a BERT block in the paper's names (MODULES; §3.2 lists W_q, W_k, W_v,
W_f1, W_f2; the authors' scripts also adapt W_o, as we do) in the 6 layers of MiniLM:

    placement_targets(placement)   the target names of "all", "attention", "ffn", "bottom", "top"
    rank_grid(ranks)               {matrix: rank} -> a (6 module types, layers) grid for heatmaps
    mean_ranks(rank_dicts)         several {matrix: rank} (one per seed) averaged
    allocation_summary(ranks)      the paper's finding in numbers: FFN vs attention, top vs bottom
"""
import re

import numpy as np

from ..errors import ConfigError

PLACEMENTS = ("all", "attention", "ffn", "bottom", "top")
# The six adapted matrices of a BERT block, in the paper's names, keyed by what follows "layer.N.".
MODULES = (("attention.self.query", "W_q"), ("attention.self.key", "W_k"),
           ("attention.self.value", "W_v"), ("attention.output.dense", "W_o"),
           ("intermediate.dense", "W_f1"), ("output.dense", "W_f2"))
FFN = ("W_f1", "W_f2")


def placement_targets(placement="all"):
    """The target names (for `add_adapters`) of a placement: "all" (MINILM_TARGETS, 36 matrices),
    "attention" (24: query, key, value, attention output), "ffn" (12: intermediate, output), or
    every matrix of the "bottom" (0-2) or "top" (3-5) layers (18 each)."""
    from ..data import MINILM_TARGETS

    if placement == "all":
        return list(MINILM_TARGETS)
    layers = {"bottom": range(3), "top": range(3, 6)}.get(placement, range(6))
    keep = {"attention": lambda label: label not in FFN, "ffn": lambda label: label in FFN}.get(
        placement, lambda label: True)
    # "layer.i.output.dense" names the FFN's output only: the attention's ends in "attention.output.dense"
    return [f"layer.{i}.{path}" for i in layers for path, label in MODULES if keep(label)]


def rank_grid(ranks):
    """{module name: rank} -> (grid (6 modules, n_layers) float array, module labels, layer numbers).

    Layers are numbered from 1 (bottom, next to the embeddings) as in the paper's figures.
    """
    pattern = re.compile(r"(?:^|\.)layer\.(\d+)\.(.+)$")
    kinds = dict(MODULES)
    cells = {}
    for name, rank in ranks.items():
        m = pattern.search(name)
        if m is None or m.group(2) not in kinds:
            raise ConfigError(f"{name!r} is not one of a BERT block's six adapted matrices")
        cells[(kinds[m.group(2)], int(m.group(1)))] = float(rank)
    layers = sorted({layer for _, layer in cells})
    labels = [label for _, label in MODULES]
    grid = np.full((len(labels), len(layers)), np.nan)
    for (label, layer), rank in cells.items():
        grid[labels.index(label), layers.index(layer)] = rank
    return grid, labels, [layer + 1 for layer in layers]


def mean_ranks(rank_dicts):
    """Average several {module name: rank} (e.g. one per seed) into one {module name: mean rank}."""
    rank_dicts = list(rank_dicts)
    return {name: float(np.mean([d[name] for d in rank_dicts])) for name in rank_dicts[0]}


def allocation_summary(ranks):
    """Where the rank went, in the two terms of the paper's finding (§4.4, Fig. 3: "AdaLoRA always
    prefers to allocating more budget to FFNs and top layers"): mean rank per FFN vs attention
    matrix, and per matrix in the top vs the bottom half of the layers."""
    grid, labels, layers = rank_grid(ranks)
    ffn = [labels.index(k) for k in FFN]
    attention = [i for i in range(len(labels)) if i not in ffn]
    half = len(layers) // 2
    out = {"ffn": float(grid[ffn].mean()), "attention": float(grid[attention].mean()),
           "bottom": float(grid[:, :half].mean()), "top": float(grid[:, -half:].mean()),
           "per_module": {label: float(grid[i].mean()) for i, label in enumerate(labels)},
           "per_layer": {layer: float(grid[:, j].mean()) for j, layer in enumerate(layers)}}
    out["ffn_gets_more"] = out["ffn"] > out["attention"]
    out["top_gets_more"] = out["top"] > out["bottom"]
    return out

