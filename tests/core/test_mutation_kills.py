"""Focused tests that kill mutants mutmut found surviving in the core (benchmarks/README.md,
"Mutation testing"): each pins one behaviour the rest of the suite left free."""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from adalora_lite import (BudgetNotAppliedWarning, BudgetSchedule, ConfigError, NonFiniteGradientError,
                          RankAllocator, budget_schedule, orthogonality_grad, orthogonality_penalty)
from adalora_lite.nn import add_adapters, save_adapters
from adalora_lite.reference import MLP as RefMLP
from adalora_lite.reference import LoRALinear as RefLoRALinear
from adalora_lite.reference import SVDLinear as RefSVDLinear
from adalora_lite.reference import cross_entropy
from adalora_lite.reference import train_step as ref_train_step
from adalora_lite.scoring import as_like, top_b_mask, triplet_scores


def assert_points_at_this_file(warning):
    """The warning names the user's line, not one inside the library. Under mutmut each mutated
    function gains a trampoline frame, so there only "not inside adalora_lite" can be asked."""
    assert "adalora_lite" not in Path(warning.filename).parts
    if "mutmut" not in sys.modules:
        assert warning.filename == __file__


def test_the_no_gradient_warning_points_at_the_callers_update():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    adapters = add_adapters(model, ["0", "1"], adapter="svd", r=2, alpha=2)
    alloc = RankAllocator(adapters, target_budget=2, total_steps=10, warmup_steps=1, final_steps=2)
    model[0](torch.randn(3, 4)).sum().backward()  # layer "1" gets no gradient
    with pytest.warns(UserWarning, match=r"^adapted layer '1' has no gradient \(is it used in the "
                      r"forward pass\?\); its importance is taken as 0$") as record:
        alloc.update(1)
    assert_points_at_this_file(record[0])


# ---------------------------------------------------------------- allocator: messages and warnings
def test_the_non_finite_error_names_only_the_layers_with_nan_gradients():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    adapters = add_adapters(model, ["0", "1"], adapter="svd", r=2, alpha=2)
    alloc = RankAllocator(adapters, target_budget=2, total_steps=10, warmup_steps=1, final_steps=2)
    model(torch.randn(3, 4)).sum().backward()
    adapters["1"].lam.grad[0] = float("nan")
    with pytest.raises(NonFiniteGradientError,
                       match=r"^gradients reaching the allocator must be finite; NaN or inf in "
                             r"layer\(s\) \['1'\]\. Lower the learning rate or clip gradients "
                             r"before calling update\(\)\.$"):
        alloc.update(1)


def test_saving_adapters_no_allocator_manages_does_not_warn(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4))
    add_adapters(model, ["0"], adapter="lora", r=2, alpha=2)  # LoRALinear has no budget_applied
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_adapters(tmp_path / "a.safetensors", model)


def test_the_budget_not_applied_warning_points_at_the_caller(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4))
    adapters = add_adapters(model, ["0"], adapter="svd", r=2, alpha=2)
    RankAllocator(adapters, target_budget=1, total_steps=10, warmup_steps=1, final_steps=2)
    with pytest.warns(BudgetNotAppliedWarning, match=r"optimizer\.step\(\), up to total_steps, or "
                      r"the ranks stay at their initial r$") as record:
        save_adapters(tmp_path / "a.safetensors", model)
    assert_points_at_this_file(record[0])


def test_budget_schedule_names_a_bad_step():
    kw = dict(total_steps=10, init_budget=4, target_budget=2, warmup_steps=1, final_steps=2)
    with pytest.raises(ConfigError, match=r"^step must be"):
        budget_schedule(-1, **kw)


# ---------------------------------------------------------------- regularizer on any array
@pytest.mark.parametrize("lib", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonality_grad_keeps_library_and_dtype_and_matches_autograd(lib, dtype):
    rng = np.random.default_rng(0)
    P, Q = rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)
    if lib == "torch":
        P, Q = torch.tensor(P), torch.tensor(Q)
    dP, dQ = orthogonality_grad(P, Q)
    assert type(dP) is type(P) and dP.dtype == P.dtype and dQ.dtype == Q.dtype
    if lib == "torch":
        P.requires_grad_(True), Q.requires_grad_(True)
        orthogonality_penalty(P, Q).backward()
        torch.testing.assert_close(dP, P.grad)
        torch.testing.assert_close(dQ, Q.grad)


def test_orthogonality_penalty_and_grad_stay_on_the_factors_device():
    P, Q = torch.empty(5, 3, device="meta"), torch.empty(3, 4, device="meta")
    assert orthogonality_penalty(P, Q).device.type == "meta"
    assert all(g.device.type == "meta" for g in orthogonality_grad(P, Q))


# ---------------------------------------------------------------- the NumPy reference
def test_cross_entropy_is_stable_for_rows_of_very_different_scales():
    logits = np.array([[1000.0, 999.0], [0.0, -1.0]])  # one max per row, not one for the batch
    loss, dlogits = cross_entropy(logits, np.array([0, 0]))
    expected = np.log1p(np.exp(-1.0))  # both rows: softmax of (0, -1)
    assert np.isclose(loss, expected) and np.isfinite(dlogits).all()


def test_reference_train_step_with_gamma_on_a_lora_model_ignores_the_regularizer():
    rng = np.random.default_rng(0)
    model = RefMLP([rng.normal(size=(3, 4))], [np.zeros(3)], adapter="lora", r=2, alpha=2, rng=0)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    plain = RefMLP([model.layers["layers.0"].weight], [np.zeros(3)], adapter="lora", r=2, alpha=2, rng=0)
    assert ref_train_step(model, x, y, lr=0.1, gamma=0.5) == ref_train_step(plain, x, y, lr=0.1)


@pytest.mark.parametrize("order", ["peft", "paper"])
def test_reference_train_step_runs_the_allocator_in_both_orders_and_without_one(order):
    rng = np.random.default_rng(0)
    weights, biases = [rng.normal(size=(5, 4)), rng.normal(size=(3, 5))], [np.zeros(5), np.zeros(3)]
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    ref_train_step(RefMLP(weights, biases, r=2, alpha=2, rng=0), x, y, lr=0.1)  # no allocator
    model = RefMLP(weights, biases, r=2, alpha=2, rng=0)
    alloc = RankAllocator(model.layers, target_budget=2, total_steps=6, warmup_steps=1, final_steps=2,
                          order=order)
    for step in range(1, 7):
        ref_train_step(model, x, y, lr=0.1, allocator=alloc, step=step)
        assert alloc.last_step == step
    assert sum(alloc.ranks().values()) == 2
    assert all((layer.lam[~layer.mask] == 0).all() for layer in model.layers.values())


def test_reference_mlp_names_a_bad_alpha_and_passes_adapter_options():
    rng = np.random.default_rng(0)
    weights, biases = [rng.normal(size=(5, 4)), rng.normal(size=(3, 5))], [None, None]
    with pytest.raises(ConfigError, match=r"^alpha needs one value per layer"):
        RefMLP(weights, biases, r=2, alpha=(1.0, 2.0, 3.0))
    gaussian = RefMLP(weights, biases, r=2, alpha=2, init="gaussian", rng=0)
    assert all(abs(l.P).max() < 0.2 for l in gaussian.layers.values())  # N(0, 0.02^2), not orthonormal


@pytest.mark.parametrize("cls", [RefLoRALinear, RefSVDLinear])
def test_reference_layers_keep_the_weights_dtype_and_check_inputs(cls):
    w = np.ones((5, 4), dtype=np.float32)
    layer = cls(w, None, r=2, alpha=2, rng=0)
    assert all(p.dtype == np.float32 for p in layer.params().values())
    assert layer.forward(np.ones((3, 4), dtype=np.float32)).shape == (3, 5)  # bias None
    with pytest.raises(ConfigError, match=r"^weight must be a 2-D \(d_out, d_in\) array, got shape \(4,\)$"):
        cls(np.ones(4), None, r=1, alpha=1)
    with pytest.raises(ConfigError, match=r"^r must be"):
        cls(w, None, r=9, alpha=1)
    for bad in (np.ones(4), np.ones((2, 4, 4))):  # (x of the wrong width fails in the matmul first)
        with pytest.raises(ConfigError, match=r"^x must have shape \(n, 4\), got"):
            layer.forward(bad)


def test_reference_lora_init_is_seeded_kaiming_uniform():
    w = np.zeros((8, 100))
    a, b = RefLoRALinear(w, r=8, alpha=8, rng=3), RefLoRALinear(w, r=8, alpha=8, rng=3)
    assert np.array_equal(a.A, b.A) and not (a.B != 0).any()
    bound = 1 / np.sqrt(100)
    assert abs(a.A).max() <= bound and a.A.max() > 0.9 * bound and a.A.min() < -0.9 * bound


def test_reference_svd_inits():
    w = np.zeros((40, 30))
    gaussian = RefSVDLinear(w, r=6, alpha=6, init="gaussian", rng=0)
    for f, shape in ((gaussian.P, (40, 6)), (gaussian.Q, (6, 30))):
        assert f.shape == shape and abs(f.mean()) < 0.005 and 0.015 < f.std() < 0.025
    ortho = RefSVDLinear(w, r=6, alpha=6, rng=0)
    np.testing.assert_allclose(ortho.P.T @ ortho.P, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(ortho.Q @ ortho.Q.T, np.eye(6), atol=1e-12)
    assert ortho.lam.dtype == w.dtype and not ortho.lam.any()
    with pytest.raises(ConfigError, match=r"^init must be 'orthogonal' or 'gaussian', got 'GAUSSIAN'$"):
        RefSVDLinear(w, r=6, alpha=6, init="GAUSSIAN")


def test_reference_apply_mask_takes_any_truthy_keep():
    layer = RefSVDLinear(np.zeros((4, 4)), r=3, alpha=3, rng=0)
    layer.lam[:] = 1.0
    layer.apply_mask([1, 0, 1])
    assert layer.mask.dtype == bool and layer.mask.tolist() == [True, False, True]
    assert layer.lam.tolist() == [1.0, 0.0, 1.0]


def test_reference_layers_name_a_bad_alpha_and_cast_the_bias():
    w = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"^alpha must be a finite number > 0"):
        RefLoRALinear(w, r=1, alpha=0)
    assert RefLoRALinear(w, r=1, alpha=1).bias is None
    layer = RefSVDLinear(w, [1, 2, 3], r=1, alpha=1)
    assert layer.bias.dtype == np.float32 and layer.bias.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_orthogonality_penalty_keeps_the_dtype(lib):
    P, Q = np.ones((4, 2), dtype=np.float32), np.ones((2, 3), dtype=np.float32)
    if lib == "torch":
        P, Q = torch.from_numpy(P), torch.from_numpy(Q)
    assert orthogonality_penalty(P, Q).dtype == P.dtype


def test_triplet_scores_has_n_triplets_entries_even_when_the_last_have_none():
    out = triplet_scores(np.ones(2), np.array([0, 0]), np.ones(2), 3)
    assert out.tolist() == [2.0, 0.0, 0.0]


def test_scores_are_zero_before_the_first_update_and_magnitude_works_for_one_layer():
    model = nn.Sequential(nn.Linear(4, 4))
    adapters = add_adapters(model, ["0"], adapter="svd", r=2, alpha=2)
    kw = dict(target_budget=1, total_steps=10, warmup_steps=1, final_steps=2)
    assert RankAllocator(adapters, **kw).triplet_scores().tolist() == [0.0, 0.0]
    with torch.no_grad():
        adapters["0"].lam.copy_(torch.tensor([-3.0, 2.0]))
    assert RankAllocator(adapters, score="magnitude", **kw).triplet_scores().tolist() == [3.0, 2.0]


def test_the_first_update_may_be_step_0_and_a_bad_step_is_named():
    model = nn.Sequential(nn.Linear(4, 4))
    adapters = add_adapters(model, ["0"], adapter="svd", r=2, alpha=2)
    alloc = RankAllocator(adapters, target_budget=1, total_steps=10, warmup_steps=1, final_steps=2)
    model(torch.randn(3, 4)).sum().backward()
    alloc.update(0)
    with pytest.raises(ConfigError, match=r"^step must be"):
        alloc.update(0)


def test_as_like_takes_the_dtype_and_device_of_like():
    out = as_like([1, 2], np.zeros(1, dtype=np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert as_like([1, 2], np.zeros(1), dtype=np.int64).dtype == np.int64
    meta = as_like(np.ones(2), torch.empty(1, dtype=torch.float16, device="meta"))
    assert meta.device.type == "meta" and meta.dtype == torch.float16


def test_allocator_defaults_and_messages():
    model = nn.Sequential(nn.Linear(4, 4))
    adapters = add_adapters(model, ["0"], adapter="svd", r=2, alpha=2)
    kw = dict(target_budget=1, total_steps=10, warmup_steps=1, final_steps=2)
    alloc = RankAllocator(adapters, **kw)
    assert alloc.schedule.mask_interval == 1 and alloc.schedule.masks_at(3)  # re-rank every step
    assert (RankAllocator(adapters, score="random", **kw).triplet_scores().tolist()
            == RankAllocator(adapters, score="random", seed=0, **kw).triplet_scores().tolist())
    with pytest.raises(ConfigError, match=r"^layers must hold at least one SVDLinear adapter, got none$"):
        RankAllocator({}, **kw)
    lora = add_adapters(nn.Sequential(nn.Linear(4, 4)), ["0"], adapter="prunable_lora", r=2, alpha=2)
    with pytest.raises(ConfigError, match=r"^score='magnitude' ranks by \|lambda\|: every layer must "
                                          r"be an SVDLinear$"):
        RankAllocator(lora, score="magnitude", **kw)
    for beta in ("beta1", "beta2"):
        with pytest.raises(ConfigError, match=rf"^{beta} must be in the open interval"):
            RankAllocator(adapters, **{beta: 1.0}, **kw)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_top_b_mask_breaks_many_ties_towards_the_lower_index_and_is_boolean(lib):
    scores = np.random.default_rng(0).integers(0, 3, 1000).astype(float)  # hundreds of ties
    budget = 500
    expected = np.zeros(1000, dtype=bool)
    expected[sorted(range(1000), key=lambda i: (-scores[i], i))[:budget]] = True
    keep = top_b_mask(scores if lib == "numpy" else torch.tensor(scores), budget)
    assert keep.dtype in (np.bool_, torch.bool)
    assert np.array_equal(np.asarray(keep), expected)


def test_schedule_total_steps_is_checked_first_and_one_step_is_enough():
    with pytest.raises(ConfigError, match=r"^total_steps must be"):
        BudgetSchedule(total_steps=0, init_budget=2, target_budget=1, warmup_steps=0, final_steps=0)
    one = BudgetSchedule(total_steps=1, init_budget=2, target_budget=1, warmup_steps=0, final_steps=0)
    assert [one.budget(0), one.budget(1)] == [2, 1]


def test_reference_train_step_has_no_regularizer_by_default():
    rng = np.random.default_rng(0)
    weights, biases = [rng.normal(size=(5, 4))], [np.zeros(5)]
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 5, 6)
    model = RefMLP(weights, biases, r=2, alpha=2, init="gaussian", rng=0)  # R(P, Q) is far from 0
    expected, _ = cross_entropy(model.forward(x), y)
    assert ref_train_step(model, x, y, lr=0.1) == float(expected)


@pytest.mark.parametrize("name, value", [("total_steps", 0.5), ("init_budget", 0), ("target_budget", 0),
                                         ("warmup_steps", -1), ("final_steps", -1), ("mask_interval", 0)])
def test_schedule_names_each_bad_argument(name, value):
    kw = dict(total_steps=10, init_budget=4, target_budget=2, warmup_steps=1, final_steps=2, mask_interval=1)
    with pytest.raises(ConfigError, match=rf"^{name} must be"):
        BudgetSchedule(**{**kw, name: value})
    with pytest.raises(ConfigError, match=r"^warmup_steps \+ final_steps must be < total_steps \(the budget "
                                          r"needs steps to shrink in\), got 5 \+ 5 >= 10$"):
        BudgetSchedule(**{**kw, "warmup_steps": 5, "final_steps": 5})


def test_reference_gaussian_init_keeps_the_weights_dtype():
    layer = RefSVDLinear(np.ones((5, 4), dtype=np.float32), r=2, alpha=2, init="gaussian", rng=0)
    assert all(p.dtype == np.float32 for p in layer.params().values())
