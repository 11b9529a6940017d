"""adalora_lite.labs.lora: the task, LoRA's initialisation, NumPy/torch agreement, the scale alpha/r,
the sweeps, merging and swapping."""
import numpy as np
import pytest
import torch

from adalora_lite import ConfigError
from adalora_lite.data import mirror_digits
from adalora_lite.labs import lora as L
from adalora_lite.labs import lora_deployment as deploy
from adalora_lite.labs import lora_scale
from adalora_lite.labs.adam import train_adam
from adalora_lite.labs.digits import predict
from adalora_lite.nn import find_adapters, merge_adapters, unmerge_adapters


@pytest.fixture(scope="module")
def task():
    return L.digits_lora_task()


def test_parameter_count():
    assert L.parameter_count(1536, 384, 8) == {"full": 589824, "lora": 15360, "fraction": 15360 / 589824}
    with pytest.raises(ConfigError):
        L.parameter_count(10, 64, 11)  # a rank above min(d_out, d_in)


def test_task_is_a_real_shift(task):
    frozen = task.torch_model()
    assert task.sizes == (64, 64, 64, 10)
    assert task.accuracy(frozen, classes=L.OLD_CLASSES) > 0.95  # pretraining worked
    assert task.accuracy(frozen, classes=(5, 6, 7, 8, 9)) < 0.05  # and never saw 5-9
    assert all(not p.requires_grad for p in frozen.parameters())
    assert not task.weights[0].flags.writeable  # the cached task cannot be changed by accident


def test_mirror_digits_flips_rows_and_is_an_involution(task):
    X = task.X_test[:5]
    M = mirror_digits(X)
    np.testing.assert_array_equal(M.reshape(-1, 8, 8)[:, 2, :], X.reshape(-1, 8, 8)[:, 2, ::-1])
    np.testing.assert_array_equal(mirror_digits(M), X)
    assert task.mirrored().weights is task.weights


def test_add_lora_caps_the_rank_and_sets_the_scale(task):
    model, adapters = task.lora_model(r=16, alpha=8.0)
    assert {n: a.r for n, a in adapters.items()} == {"layers.0": 16, "layers.1": 16, "layers.2": 10}
    assert adapters["layers.2"].scale == pytest.approx(0.8)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"layers.{k}.{f}" for k in range(3) for f in "AB"}
    _, plain = task.lora_model(r=16, alpha=8.0, scaling="alpha")
    assert all(a.scale == 8.0 for a in plain.values())
    _, rs = task.lora_model(r=16, alpha=8.0, scaling="alpha/sqrt(r)")  # rsLoRA
    assert rs["layers.0"].scale == pytest.approx(2.0) and rs["layers.2"].scale == pytest.approx(8 / 10 ** 0.5)
    with pytest.raises(ConfigError):
        task.lora_model(r=4, alpha=8.0, scaling="sqrt")


def test_lora_starts_exactly_at_the_pretrained_network(task):
    model, _ = task.lora_model(r=4, alpha=8.0)
    np.testing.assert_array_equal(predict(model, task.X_test), predict(task.torch_model(), task.X_test))
    ref = task.reference_model(r=4, alpha=8.0)
    np.testing.assert_array_equal(ref.forward(task.X_test), task.frozen_logits(task.X_test))
    np.testing.assert_allclose(task.frozen_logits(task.X_test), predict(model, task.X_test), atol=1e-12)


def test_start_comparison_explains_b_zero(task):
    rows = L.start_comparison(task)
    lora, zeros, rand = (rows[k] for k in L.STARTS)
    assert lora["output_change"] == 0 and lora["grad_A"] == 0 and lora["grad_B"] > 0.1
    assert zeros["grad_A"] == 0 and zeros["grad_B"] == 0  # stuck: no gradient ever
    assert rand["output_change"] > 0.5 and rand["grad_A"] > 0  # starts elsewhere
    assert lora["old_loss"] < rand["old_loss"]


def test_numpy_and_torch_train_the_same_adapters(task):
    run = L.train_twins(task, r=4, alpha=8.0, lr=0.25, steps=40)
    assert run.max_loss_diff < 1e-9
    assert run.max_weight_diff < 1e-9
    assert run.numpy_losses[-5:].mean() < 0.5 * run.numpy_losses[0]
    assert task.accuracy(run.ref) == task.accuracy(run.net)


def test_train_adam_learns_and_stops_when_it_blows_up(task):
    model, _ = task.lora_model(r=4, alpha=8.0)
    losses = train_adam(model, task.X_train, task.y_train, steps=60, lr=1e-2)
    assert np.isfinite(losses).all() and losses[-10:].mean() < 0.5 * losses[:5].mean()
    model, _ = task.lora_model(r=16, alpha=8.0, scaling="alpha")
    blown = train_adam(model, task.X_train, task.y_train, steps=60, lr=2.0, stop_above=50)
    assert np.isinf(blown[-1])
    with pytest.raises(ConfigError):
        train_adam(task.torch_model(), task.X_train, task.y_train, steps=5, lr=1e-2)  # nothing requires grad


def test_one_adam_step_is_rank_independent_only_with_alpha_over_r(task):
    ranks = (1, 4, 16)
    over_r = lora_scale.first_step_gain(task, ranks=ranks, scaling="alpha/r", seeds=(0, 1, 2))
    plain = lora_scale.first_step_gain(task, ranks=ranks, scaling="alpha", seeds=(0, 1, 2))
    assert over_r.min() > 0 and over_r.max() / over_r.min() < 1.3
    assert plain[-1] / plain[0] > 8  # grows about like r
    assert plain[0] == pytest.approx(over_r[0])  # at r = 1 the two scalings coincide


def test_lr_sweep_shapes(task):
    lrs = [2.0 ** -9, 2.0 ** -5, 4.0]
    sweep = lora_scale.lr_sweep(task, ranks=(1, 8), lrs=lrs, steps=30, progress=False)
    assert sweep.final_loss.shape == (2, 2, 3)
    assert np.isinf(sweep.final_loss[1, 1, 2]) or sweep.final_loss[1, 1, 2] > 2  # lr = 4 blows up


def test_rank_ablation_counts_parameters_and_learns(task):
    ab = L.rank_ablation(task, ranks=(1, 4), seeds=(0,), steps=60, progress=False)
    assert ab.params == (2 * 64 + 2 * 64 + 1 * 74, 4 * (2 * 128 + 74))
    assert ab.accuracy.shape == (2, 1)
    assert (ab.mean > ab.start_accuracy + 0.2).all()
    assert ab.full_params == 64 * 65 + 64 * 65 + 10 * 65
    assert ab.full_accuracy > ab.start_accuracy


def test_merge_keeps_outputs_and_time_forward_measures(task):
    model, _ = task.lora_model(r=4, alpha=8.0)
    train_adam(model, task.X_train, task.y_train, steps=20, lr=1e-2)
    before = predict(model, task.X_test)
    merge_adapters(model)
    np.testing.assert_allclose(predict(model, task.X_test), before, atol=1e-12)
    t = deploy.time_forward({"merged": model, "again": model}, task.X_test[:1], number=5, repeats=2)
    assert set(t) == {"merged", "again"} and all(0 < v < 1 for v in t.values())


def test_forward_ops_counts_what_merging_removes(task):
    model, _ = task.lora_model(r=4, alpha=8.0)
    unmerged = deploy.forward_ops(model, task.X_test[:1])
    assert unmerged == {"linear": 3, "matmul": 3, "addmm_": 3, "tanh": 2}  # x A^T, then out += s (.) B^T
    merge_adapters(model)
    assert deploy.forward_ops(model, task.X_test) == {"linear": 3, "tanh": 2}


def test_swap_adapter_replaces_one_update_by_another(task):
    first, _ = task.lora_model(r=4, alpha=8.0, seed=0)
    second, _ = task.lora_model(r=4, alpha=8.0, seed=1)
    train_adam(first, task.X_train, task.y_train, steps=20, lr=1e-2)
    mirrored = task.mirrored()
    train_adam(second, mirrored.X_train, mirrored.y_train, steps=20, lr=1e-2, seed=1)
    new = deploy.adapter_state(second)
    adapters = find_adapters(first)
    with pytest.raises(ConfigError):
        deploy.swap_adapter(adapters["layers.0"], *new["layers.0"])  # not merged yet
    merge_adapters(first)
    with pytest.raises(ConfigError):
        deploy.swap_adapter(adapters["layers.0"], *new["layers.1"][::-1])  # wrong shapes
    for name, adapter in adapters.items():
        deploy.swap_adapter(adapter, *new[name])
    for k, (name, adapter) in enumerate(adapters.items()):
        expected = task.weights[k] + find_adapters(second)[name].delta_weight().detach().numpy()
        np.testing.assert_allclose(adapter.base.weight.detach().numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(predict(first, task.X_test), predict(second, task.X_test), atol=1e-10)
    unmerge_adapters(first)  # and the merged weight goes back to W0
    np.testing.assert_allclose(adapters["layers.1"].base.weight.detach().numpy(), task.weights[1],
                               atol=1e-12)


def test_adapter_state_is_a_copy(task):
    model, adapters = task.lora_model(r=2, alpha=8.0)
    state = deploy.adapter_state(model)
    with torch.no_grad():
        adapters["layers.0"].A += 1
    assert not torch.equal(state["layers.0"][0], adapters["layers.0"].A)


def test_breakdown_search_brackets_the_edge(task, monkeypatch):
    search = lora_scale.breakdown_search(task, ranks=(1,), scalings=("alpha",), seeds=(0,), steps=30,
                                low=-8.0, high=2.0, resolution=0.5, progress=False)
    assert search.runs == 5 and search.resolution == pytest.approx(10 / 32)  # ceil(log2(10 / 0.5))
    lo, hi = search.trained[0, 0, 0], search.broke[0, 0, 0]
    assert hi - lo == pytest.approx(search.resolution) and -8.0 < hi and lo < 2.0
    for lr, ends_below in ((2.0 ** lo, True), (2.0 ** hi, False)):  # the bracket is what it says
        model, _ = task.lora_model(r=1, alpha=8.0, scaling="alpha", seed=0)
        losses = train_adam(model, task.X_train, task.y_train, steps=30, lr=lr, seed=0)
        assert (bool(np.isfinite(losses[-1])) and task.loss(model) < 1.0) == ends_below
    assert search.edge_of("alpha", 1) == pytest.approx((lo + hi) / 2)
    low, high = search.band()
    assert low[0, 0] == lo and high[0, 0] == hi
    with pytest.raises(ConfigError):
        lora_scale.breakdown_search(task, low=-2.0, high=-3.0, progress=False)


def test_breakdown_search_means_seeds_and_bands_them():
    s = lora_scale.BreakdownSearch(("alpha/r",), (1, 4), (0, 1), np.array([[[-4.0, -3.5], [-5.0, -5.0]]]),
                          np.array([[[-3.75, -3.25], [-4.75, -4.75]]]), 0.25, 1.0, 16)
    np.testing.assert_allclose(s.edge(), [[-3.625, -4.875]])
    low, high = s.band()
    np.testing.assert_allclose(low, [[-4.0, -5.0]])
    np.testing.assert_allclose(high, [[-3.25, -4.75]])


def test_train_twins_with_a_layer_class_and_lora_model_with(task):
    from adalora_lite.exercises.solutions_torch import LoRAModule
    from adalora_lite.reference.layers import LoRALinear

    class Mine(LoRALinear):  # the reference's maths behind the notebook's constructor
        def __init__(self, W0, b, A, B, alpha):
            super().__init__(W0, b, r=A.shape[0], alpha=alpha)
            self.A, self.B = A, B

    run = L.train_twins(task, r=2, steps=5, layer=Mine)
    assert all(isinstance(layer, Mine) for layer in run.ref.layers.values())
    assert run.max_loss_diff < 1e-9 and run.max_weight_diff < 1e-9
    mine = L.lora_model_with(task, LoRAModule, r=4, alpha=8.0, seed=0)
    library, _ = task.lora_model(r=4, alpha=8.0, seed=0)
    assert [m.A.shape[0] for m in mine.layers] == [4, 4, 4]
    for m, lib in zip(mine.layers, find_adapters(library).values()):
        assert torch.equal(m.A, lib.A) and torch.equal(m.B, lib.B)
