"""RankAllocator semantics on the NumPy reference: phases, budgets, masks, errors."""
import warnings

import numpy as np
import pytest

from adalora_lite import (ConfigError, NonFiniteGradientError, RankAllocator, entry_score,
                          layer_triplet_scores, sensitivity, smooth, top_b_mask)
from adalora_lite.reference import MLP, train_step
from adalora_lite.tracking import ImportanceTracker

SCHEDULE = dict(total_steps=40, warmup_steps=4, final_steps=10, mask_interval=3)


def tiny_model(seed=0, r=4):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(12, 6)) / 3, rng.normal(size=(10, 12)) / 3, rng.normal(size=(5, 10)) / 3]
    return MLP(weights, [np.zeros(w.shape[0]) for w in weights], r=r, alpha=2 * r, rng=rng)


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(32, 6)), rng.integers(0, 5, 32)


def run(model, allocator, steps, lr=0.3):
    x, y = batch()
    history = []
    for t in range(1, steps + 1):
        train_step(model, x, y, lr=lr, gamma=0.1, allocator=allocator, step=t)
        history.append((allocator.budget, sum(allocator.ranks().values()),
                        {n: layer.lam.copy() for n, layer in model.layers.items()}))
    return history


def test_mask_count_follows_the_budget_and_final_allocation_is_frozen():
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    history = run(model, alloc, 40)
    for t, (budget, kept, lams) in enumerate(history, start=1):
        if alloc.schedule.masks_at(t) or t >= alloc.schedule.final_start:
            assert kept == budget, t  # exactly b(t) triplets survive each masking
            assert sum(int((lam != 0).sum()) for lam in lams.values()) <= budget
    final = alloc.rank_pattern()
    assert sum(sum(p) for p in final.values()) == 5
    assert history[-1][0] == 5
    for name, layer in model.layers.items():  # masked lambdas stay exactly zero to the end
        assert not layer.lam[~np.array(final[name])].any()


def test_warmup_scores_without_masking():
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    run(model, alloc, 4)
    assert alloc.budget == alloc.schedule.init_budget == 12
    assert all(layer.mask.all() for layer in model.layers.values())
    assert alloc.triplet_scores().shape == (12,) and alloc.triplet_scores().min() > 0


def test_scores_are_the_papers_formula():
    """S_i = s(lam_i) + mean_j s(P_ji) + mean_j s(Q_ij), EMAs computed by hand per matrix."""
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    x, y = batch()
    ema = {}
    for t in (1, 2, 3):
        train_step(model, x, y, lr=0.3, allocator=alloc, step=t)
        for lname, layer in model.layers.items():
            for pname, w in layer.params().items():
                i = sensitivity(w, layer.grads[pname])
                prev = ema.get((lname, pname), (0 * i, 0 * i))
                ema[(lname, pname)] = smooth(*prev, i, beta1=0.85, beta2=0.85)
    for lname, layer in model.layers.items():
        s = {p: entry_score(*ema[(lname, p)]) for p in ("P", "lam", "Q")}
        expected = layer_triplet_scores(s["P"], s["lam"], s["Q"])  # the definition, eq. (7)
        np.testing.assert_allclose(expected, s["lam"] + s["P"].mean(axis=0) + s["Q"].mean(axis=1))
        np.testing.assert_allclose(alloc.layer_scores()[lname], expected, rtol=1e-12)


def test_a_tracker_alone_scores_as_the_allocator_and_never_masks():
    """ImportanceTracker, the allocator's scoring without the allocator: the same scores as a masking
    allocator's while nothing is masked yet, and no mask or budget flag through every phase."""
    model, twin = tiny_model(), tiny_model()
    tracker = ImportanceTracker(model.layers)
    masker = RankAllocator(twin.layers, target_budget=5, **SCHEDULE)
    x, y = batch()
    for t in range(1, 41):
        train_step(model, x, y, lr=0.3)
        tracker.update()  # after the step, as the allocator's default order
        if t <= SCHEDULE["warmup_steps"]:  # before any masking both runs are the same run
            train_step(twin, x, y, lr=0.3, allocator=masker, step=t)
            np.testing.assert_array_equal(tracker.triplet_scores(), masker.triplet_scores())
    assert all(layer.mask.all() for layer in model.layers.values())
    assert all(layer.budget_applied is None for layer in model.layers.values())


def test_a_tracker_saves_resumes_and_cuts_its_scores_into_layers():
    """A NumPy tracker's state round-trips as copies; a state saved before any update (None)
    resumes from zero EMAs; layer_scores is triplet_scores cut per layer, in layer order."""
    model = tiny_model()
    tracker = ImportanceTracker(model.layers)
    x, y = batch()
    for _ in range(3):
        train_step(model, x, y, lr=0.3)
        tracker.update()
    saved = tracker.state_dict()
    assert isinstance(saved["ibar"], np.ndarray) and saved["ibar"] is not tracker.ibar
    per_layer = tracker.layer_scores()
    assert list(per_layer) == list(model.layers)
    np.testing.assert_array_equal(np.concatenate(list(per_layer.values())), tracker.triplet_scores())
    resumed = ImportanceTracker(model.layers)
    resumed.load_state_dict(saved)
    np.testing.assert_array_equal(resumed.ibar, tracker.ibar)
    np.testing.assert_array_equal(resumed.ubar, tracker.ubar)
    assert resumed.ibar is not saved["ibar"]
    assert tracker.ibar.any() and tracker.ubar.any()
    tracker.load_state_dict({"ibar": None, "ubar": None})
    assert np.all(tracker.ibar == 0) and np.all(tracker.ubar == 0)


def test_the_budget_before_any_update_is_the_initial_one():
    model = tiny_model()
    allocator = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    assert allocator.budget == allocator.schedule.init_budget == 12  # 3 layers x r = 4


def test_a_masked_triplet_can_come_back():
    """Masking zeroes lambda but keeps P and Q: the next SGD step moves lambda off zero again."""
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    x, y = batch()
    run(model, alloc, 6)  # step 6 masks (interval 3, after warm-up)
    masked = [(n, i) for n, layer in model.layers.items() for i in np.flatnonzero(~layer.mask)]
    assert masked
    train_step(model, x, y, lr=0.3, allocator=alloc, step=7)  # not a masking step
    assert any(model.layers[n].lam[i] != 0 for n, i in masked)


def test_top_b_mask_keeps_exactly_b_even_with_ties():
    scores = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    keep = top_b_mask(scores, 3)
    assert keep.sum() == 3 and keep[3] and keep[0] and keep[1]  # ties go to the lower index


def test_a_layer_without_gradient_warns_and_loses_rank_first():
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    x, y = batch()
    unused = model.layers["layers.1"]
    with pytest.warns(UserWarning, match="layers.1.*no gradient"):
        for t in range(1, 8):
            train_step(model, x, y, lr=0.3)
            unused.grads = {}  # as if the forward pass never reached it
            alloc.update(t)
    assert alloc.ranks()["layers.1"] < unused.r
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not every step
        alloc.update(8)


def test_non_finite_gradient_names_the_layer():
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    x, y = batch()
    train_step(model, x, y, lr=0.3)
    model.layers["layers.2"].grads["Q"][0, 0] = np.nan
    with pytest.raises(NonFiniteGradientError, match="layers.2"):
        alloc.update(1)


@pytest.mark.parametrize("kw, name", [
    (dict(beta1=1.0), "beta1"), (dict(beta2=0.0), "beta2"), (dict(beta1=-0.1), "beta1"),
    (dict(target_budget=13), "target_budget"), (dict(warmup_steps=30), "warmup_steps"),
    (dict(mask_interval=0), "mask_interval"),
])
def test_bad_allocator_input(kw, name):
    args = dict(target_budget=5, **SCHEDULE)
    with pytest.raises(ConfigError, match=name):
        RankAllocator(tiny_model().layers, **{**args, **kw})


def test_steps_must_increase():
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, **SCHEDULE)
    run(model, alloc, 2)
    with pytest.raises(ConfigError, match="step"):
        alloc.update(2)


def test_empty_layers_rejected():
    with pytest.raises(ConfigError, match="layers"):
        RankAllocator({}, target_budget=1, **SCHEDULE)


def test_forgetting_update_warns_when_the_result_is_used(tmp_path):
    import torch
    from torch import nn

    from adalora_lite import BudgetNotAppliedWarning
    from adalora_lite.nn import add_adapters, merge_adapters, save_adapters

    model = nn.Sequential(nn.Linear(4, 4))
    adapters = add_adapters(model, ["0"], r=2, alpha=2)
    alloc = RankAllocator(adapters, target_budget=1, total_steps=10, warmup_steps=1, final_steps=2)
    model(torch.randn(2, 4)).sum().backward()  # trained, but update() never called
    with pytest.warns(BudgetNotAppliedWarning, match="allocator.update"):
        save_adapters(tmp_path / "a.safetensors", model)
    with pytest.warns(BudgetNotAppliedWarning):
        merge_adapters(model)
    model[0].unmerge()
    for t in range(1, 11):
        alloc.update(t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        merge_adapters(model)  # the budget was applied: silent



def test_paper_order_scores_before_the_step_and_masks_after_it():
    """Algorithm 1: I(t) = |w(t) grad(t)|, then lam(t+1) = T(lam(t) - eta grad, S(t))."""
    def lambdas_scored(order):
        model = tiny_model()
        alloc = RankAllocator(model.layers, target_budget=5, total_steps=4, warmup_steps=0,
                              final_steps=1, order=order)
        before = [layer.lam.copy() for layer in model.layers.values()]
        update, seen = alloc.update, []

        def spy(step):  # the lambdas the allocator scores with
            seen.extend(layer.lam.copy() for layer in model.layers.values())
            return update(step)

        alloc.update = spy
        train_step(model, *batch(), lr=0.3, gamma=0.1, allocator=alloc, step=1)
        assert all(np.all(layer.lam[~layer.mask] == 0) for layer in model.layers.values())
        return all(np.array_equal(a, b) for a, b in zip(before, seen))

    assert lambdas_scored("paper")       # w(t), before the step; masked after it
    assert not lambdas_scored("peft")    # w(t + 1)
    with pytest.raises(ConfigError, match="order must be one of"):
        RankAllocator(tiny_model().layers, target_budget=5, total_steps=4, warmup_steps=0,
                      final_steps=1, order="before")
