"""The scale in front of LoRA's B A, and what it does to the learning rate (notebook 03, section 5
and "Going deeper").

    SCALINGS, ALL_SCALINGS            "alpha/r" (LoRA: Hu et al. 2021, §4.1), "alpha" (no division
                                      by r, ours for contrast), "alpha/sqrt(r)" (rsLoRA:
                                      Kalajdzievski 2023)
    add_lora(model, r, alpha, scaling)   LoRA adapters on a torch model with one of those scales
    lr_sweep(task, ...)               final loss over (scaling, rank, learning rate)
    breakdown_search(task, ...)       the learning rate where training breaks down, by bisection
    first_step_gain(task, ...)        loss decrease after one Adam step, per rank

`task` is a `digits.DigitsTask` (its `lora_model` calls `add_lora`).
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, check_positive
from ..nn import add_adapters
from .adam import train_adam
from .common import progress as progress_bar
from .common import single_thread

SCALINGS = ("alpha/r", "alpha")  # the scale widget's two curves
RSLORA = "alpha/sqrt(r)"  # rsLoRA's scale (Kalajdzievski, 2023)
ALL_SCALINGS = SCALINGS + (RSLORA,)


def add_lora(model, *, r, alpha, scaling="alpha/r", targets=None):
    """LoRA adapters on `targets` (default: every nn.Linear); returns {name: adapter}.

    A rank cannot exceed min(d_out, d_in) (10 for the digits head), so each layer gets
    min(r, d_out, d_in). `scaling="alpha/r"` is LoRA's scale; `scaling="alpha"` multiplies B A by
    alpha without dividing by r; `scaling="alpha/sqrt(r)"` is rsLoRA's scale (Kalajdzievski, 2023).
    The notebook measures all three.
    """
    if scaling not in ALL_SCALINGS:
        raise ConfigError(f"scaling must be one of {ALL_SCALINGS}, got {scaling!r}")
    if targets is None:
        targets = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    ranks = {}
    for name in targets:
        base = model.get_submodule(name)
        ranks[name] = min(r, base.out_features, base.in_features)
    adapters = add_adapters(model, targets, adapter="lora", r=ranks, alpha=alpha)
    if scaling != "alpha/r":
        for name, adapter in adapters.items():
            adapter.scale = float(alpha) if scaling == "alpha" else float(alpha) / ranks[name] ** 0.5
    return adapters


@dataclass
class LRSweep:
    scalings: tuple
    ranks: tuple
    lrs: np.ndarray
    final_loss: np.ndarray  # (scalings, ranks, lrs): training loss after the run; inf if diverged


def lr_sweep(task, *, ranks=(1, 4, 16), lrs=None, alpha=8.0, scalings=SCALINGS, steps=150,
             batch_size=128, seed=0, progress=True):
    """Train LoRA for every (scaling, rank, lr) with Adam; record the final training loss."""
    lrs = 2.0 ** np.arange(-12, -2) if lrs is None else np.asarray(lrs, dtype=float)
    final = np.full((len(scalings), len(ranks), len(lrs)), np.inf)
    grid = [(i, j, k) for i in range(len(scalings)) for j in range(len(ranks)) for k in range(len(lrs))]
    for i, j, k in progress_bar(grid, progress, "lr sweep"):
        model, _ = task.lora_model(r=ranks[j], alpha=alpha, scaling=scalings[i], seed=seed)
        losses = train_adam(model, task.X_train, task.y_train, steps=steps, lr=float(lrs[k]),
                            batch_size=batch_size, seed=seed)
        if np.isfinite(losses[-1]):
            loss = task.loss(model)
            final[i, j, k] = loss if np.isfinite(loss) else np.inf
    return LRSweep(tuple(scalings), tuple(ranks), lrs, final)


@dataclass
class BreakdownSearch:
    """Where training breaks down, per (scaling, rank, seed), found by bisection on log2(lr).

    A run "trained" when its final training loss is below `max_loss` nats, and "broke down"
    otherwise. Each (scaling, rank, seed) ends with a bracket: the run at 2**trained trained, the run
    at 2**broke (one `resolution` higher) broke down. Near the edge, where a run lands is decided by
    its last bits (another CPU may flip it), but a flipped run moves its bracket by about one
    resolution step, not more: the bisection keeps closing in on the edge from either side.
    """
    scalings: tuple
    ranks: tuple
    seeds: tuple
    trained: np.ndarray  # (scalings, ranks, seeds): log2 of the largest lr tried that trained
    broke: np.ndarray  # (scalings, ranks, seeds): log2 of the smallest lr tried that broke down
    resolution: float  # octaves (log2 steps) between the two ends of a final bracket
    max_loss: float
    runs: int  # training runs made

    def edge(self):
        """(scalings, ranks): log2 of the breakdown learning rate, mean over seeds of the brackets'
        midpoints."""
        return ((self.trained + self.broke) / 2).mean(axis=2)

    def band(self):
        """(low, high), each (scalings, ranks): log2 of the lowest lr that trained in every seed's
        bracket and of the highest that broke down; every seed's edge lies between them."""
        return self.trained.min(axis=2), self.broke.max(axis=2)

    def edge_of(self, scaling, r):
        """log2 of the breakdown lr of one (scaling, r), mean over seeds."""
        return float(self.edge()[self.scalings.index(scaling), self.ranks.index(r)])


def breakdown_search(task, *, ranks=(1, 4, 16), scalings=ALL_SCALINGS, seeds=(0, 1), alpha=8.0,
                     steps=100, batch_size=128, low=-6.5, high=-2.5, resolution=0.25, max_loss=1.0,
                     progress=True):
    """Bisect log2(lr) in [low, high] for every (scaling, rank, seed) until the bracket is
    `resolution` octaves wide; returns a BreakdownSearch.

    The ends are not run: `low` is assumed to train and `high` to break down (true on the digits
    task for these scalings, ranks and seeds; a bracket that ends at `low` or `high` says the edge
    lies outside). Each probe is one `train_adam` run from seed's A, then the final training loss.
    """
    check_positive("resolution", resolution)
    if not low < high:
        raise ConfigError(f"need low < high, got {low} and {high}")
    probes = int(np.ceil(np.log2((high - low) / resolution)))
    shape = (len(scalings), len(ranks), len(seeds))
    trained, broke = np.full(shape, float(low)), np.full(shape, float(high))
    arms = [(i, j, s) for i in range(len(scalings)) for j in range(len(ranks)) for s in range(len(seeds))]
    runs = 0
    for i, j, s in progress_bar(arms, progress, "breakdown search"):
        lo, hi = float(low), float(high)
        for _ in range(probes):
            mid = (lo + hi) / 2
            model, _ = task.lora_model(r=ranks[j], alpha=alpha, scaling=scalings[i], seed=seeds[s])
            losses = train_adam(model, task.X_train, task.y_train, steps=steps, lr=2.0 ** mid,
                                batch_size=batch_size, seed=seeds[s])
            runs += 1
            ok = bool(np.isfinite(losses[-1])) and task.loss(model) < max_loss
            lo, hi = (mid, hi) if ok else (lo, mid)
        trained[i, j, s], broke[i, j, s] = lo, hi
    return BreakdownSearch(tuple(scalings), tuple(ranks), tuple(seeds), trained, broke,
                           (high - low) / 2 ** probes, float(max_loss), runs)


def first_step_gain(task, *, ranks=(1, 2, 4, 8, 16, 32), alpha=8.0, scaling="alpha/r", lr=1e-3,
                    seeds=(0, 1, 2)):
    """How much one Adam step (full batch) lowers the training loss, per rank, averaged over seeds.

    Adam's first step moves every entry of B by exactly lr (A does not move: its gradient is
    B^T (...) = 0), so B A grows with r; the scale decides whether the update does too.
    """
    X, y = torch.as_tensor(task.X_train), torch.as_tensor(task.y_train)
    start = task.loss(task.torch_model())
    gains = np.zeros(len(ranks))
    with single_thread():
        for j, r in enumerate(ranks):
            for seed in seeds:
                model, _ = task.lora_model(r=r, alpha=alpha, scaling=scaling, seed=seed)
                opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
                F.cross_entropy(model(X), y).backward()
                opt.step()
                gains[j] += (start - task.loss(model)) / len(seeds)
    return gains
