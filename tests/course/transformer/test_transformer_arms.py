"""Notebook 09's arms on MiniLM: placements of the adapters, the extra methods, bad configs."""
import pytest

from adalora_lite import ConfigError
from adalora_lite.data import load_minilm
from adalora_lite.labs.finetune import FinetuneConfig, build_model
from adalora_lite.labs.minilm_matrices import placement_targets, rank_grid
from adalora_lite.nn import PrunableLoRALinear, SVDLinear, add_adapters


@pytest.mark.parametrize("placement, n, kinds, layers", [
    ("all", 36, {"W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2"}, {1, 2, 3, 4, 5, 6}),
    ("attention", 24, {"W_q", "W_k", "W_v", "W_o"}, {1, 2, 3, 4, 5, 6}),
    ("ffn", 12, {"W_f1", "W_f2"}, {1, 2, 3, 4, 5, 6}),
    ("bottom", 18, {"W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2"}, {1, 2, 3}),
    ("top", 18, {"W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2"}, {4, 5, 6}),
])
def test_placements_adapt_exactly_their_matrices(placement, n, kinds, layers):
    model, _ = load_minilm(num_labels=2)
    adapters = add_adapters(model, placement_targets(placement), adapter="lora", r=2, alpha=4)
    assert len(adapters) == n
    grid, labels, layer_numbers = rank_grid({name: 2 for name in adapters})
    present = {label for i, label in enumerate(labels) if (grid[i] == grid[i]).any()}
    assert present == kinds and set(layer_numbers) == layers


def test_the_benchmark_placement_ranks_spend_the_parameters_of_lora_r4_everywhere():
    """benchmarks/miniature.py compares placements at the paper's Fig. 1 rule: equal parameters."""
    per_rank = {"attention": 24 * 768, "ffn": 12 * (384 + 1536), "bottom": 18 * 6912 / 6, "top": 18 * 6912 / 6}
    all_r4 = 4 * 6 * (4 * 768 + 2 * 1920)
    ranks = {"attention": 9, "ffn": 7, "bottom": 8, "top": 8}
    for placement, r in ranks.items():
        assert abs(r * per_rank[placement] - all_r4) / all_r4 < 0.03, placement


def test_methods_build_their_adapters():
    for method, kind, rank in (("svd", SVDLinear, 4), ("prune_lora", PrunableLoRALinear, 6)):
        config = FinetuneConfig(method=method, r=4, init_r=6)
        _, _, adapters, allocator = build_model(config, n_train=64)
        assert all(type(a) is kind and a.r == rank for a in adapters.values())
        assert (allocator is None) == (method == "svd")
        if allocator is not None:
            assert allocator.schedule.target_budget == 4 * 36


@pytest.mark.parametrize("kw, name", [(dict(score="fisher"), "score"), (dict(placement="middle"), "placement"),
                                      (dict(method="prune_lora", r=8, init_r=6), "init_r"),
                                      (dict(method="qlora"), "method")])
def test_bad_arms_are_named(kw, name):
    with pytest.raises(ConfigError, match=name):
        FinetuneConfig(**kw)
