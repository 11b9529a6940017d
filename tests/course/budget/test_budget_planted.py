"""adalora_lite.labs.planted: the planted-rank task, the regression step, training (both step
orders) and the comparison."""
import numpy as np
import pytest

from adalora_lite import ConfigError, orthogonality_penalty
from adalora_lite.labs.planted import (StepProbe, allocation_error, compare_methods,
                                       make_planted_task, mse, planted_model, train_planted)
from adalora_lite.reference import LoRALinear, SVDLinear, train_step


def test_planted_deltas_have_the_planted_rank_and_singular_values():
    task = make_planted_task((1, 3, 2), width=10, singular_value=0.7, seed=3)
    assert task.planted_ranks == (1, 3, 2) and task.total_rank == 6
    for delta, k in zip(task.deltas, task.planted_ranks):
        s = np.linalg.svd(delta, compute_uv=False)
        np.testing.assert_allclose(s[:k], 0.7, rtol=1e-10)
        assert s[k] < 1e-10  # exactly rank k
    # The targets are the teacher's outputs: frozen weights plus the deltas.
    x = task.X_test[:5]
    for w, d in zip(task.weights[:-1], task.deltas[:-1]):
        x = np.tanh(x @ (w + d).T)
    x = x @ (task.weights[-1] + task.deltas[-1]).T
    np.testing.assert_allclose(task.Y_test[:5], x, rtol=1e-10)


def test_task_is_cached_deterministic_and_read_only():
    a = make_planted_task([1, 2], width=8, seed=1)
    assert a is make_planted_task((1, 2), width=8, seed=1)
    b = make_planted_task((1, 2), width=8, seed=2)
    assert not np.allclose(a.weights[0], b.weights[0])
    with pytest.raises(ValueError):
        a.weights[0][0, 0] = 1.0


@pytest.mark.parametrize("ranks", [(0, 2), (2, 9), ()])
def test_bad_planted_ranks_are_rejected(ranks):
    with pytest.raises(ConfigError):
        make_planted_task(ranks, width=8)


def test_frozen_network_is_worse_than_the_teacher():
    task = make_planted_task((1, 2), width=8, seed=0)
    assert task.start_loss() > 0.05
    teacher = planted_model(task, adapter="lora", r=1)
    for layer, d in zip(teacher.layers.values(), task.deltas):
        layer.weight = layer.weight + d
    assert task.loss(teacher) < 1e-20


def test_planted_model_uniform_and_per_layer_ranks():
    task = make_planted_task((1, 4, 2), width=8, seed=0)
    uniform = planted_model(task, adapter="svd", r=3)
    assert [l.r for l in uniform.layers.values()] == [3, 3, 3]
    assert all(isinstance(l, SVDLinear) and l.scale == 1.0 for l in uniform.layers.values())
    per_layer = planted_model(task, adapter="lora", r=(1, 4, 2), alpha=8)
    assert [l.r for l in per_layer.layers.values()] == [1, 4, 2]
    assert [l.scale for l in per_layer.layers.values()] == [8.0, 2.0, 4.0]
    assert all(isinstance(l, LoRALinear) for l in per_layer.layers.values())
    with pytest.raises(ConfigError):
        planted_model(task, adapter="lora", r=(1, 2))


def test_mse_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    loss, grad = mse(pred, target)
    assert loss == pytest.approx(0.5 * ((pred - target) ** 2).sum() / 5)
    eps, num = 1e-6, np.zeros_like(pred)
    for idx in np.ndindex(pred.shape):
        p = pred.copy()
        p[idx] += eps
        num[idx] = (mse(p, target)[0] - loss) / eps
    np.testing.assert_allclose(grad, num, atol=1e-5)


def test_train_step_with_mse_reports_the_regularized_objective_and_learns():
    task = make_planted_task((1, 2), width=8, seed=0)
    model = planted_model(task, adapter="svd", r=3, seed=0)
    for layer in model.layers.values():  # make R(P, Q) non-zero
        layer.P *= 1.1
    x, y = task.X_train[:32], task.Y_train[:32]
    expected = mse(model.forward(x), y)[0] + 0.5 * np.mean(
        [orthogonality_penalty(l.P, l.Q) for l in model.layers.values()])
    assert train_step(model, x, y, lr=0.0, gamma=0.5, loss_fn=mse) == pytest.approx(expected)
    before = task.loss(model, "train")
    for _ in range(50):
        train_step(model, task.X_train, task.Y_train, lr=0.2, gamma=0.1, loss_fn=mse)
    assert task.loss(model, "train") < 0.5 * before


@pytest.mark.parametrize("order", ["peft", "paper"])
def test_train_adalora_ends_at_the_target_budget_and_reports_the_lambdas_before_masking(order):
    task = make_planted_task((1, 2), width=8, seed=0)
    seen = []

    def callback(step, model, allocator, loss, probe):
        seen.append(step)
        if step == 0:
            assert np.isnan(loss) and probe.lambdas_tilde is None
            return
        lam = np.concatenate([l.lam for l in model.layers.values()])
        mask = np.concatenate([l.mask for l in model.layers.values()])
        assert np.all(lam[~mask] == 0) and np.array_equal(lam[mask], probe.lambdas_tilde[mask])

    res = train_planted(task, adapter="svd", r=4, target_budget=3, total_steps=60, warmup_steps=10,
                        final_steps=20, callback=callback, order=order)
    assert res.allocator.order == order
    assert seen == list(range(0, 61))
    assert sum(res.ranks.values()) == 3
    assert res.n_params == 3 * (8 + 8 + 1)
    assert 0 < res.relative_loss < 1


def test_the_probe_keeps_what_the_allocator_scored_in_either_order():
    """PEFT's order scores lam after the optimizer step (lambda-tilde), the paper's lam before it
    (lambda-tilde + lr * dlam on the triplets it keeps), each with the gradient of the step."""
    task = make_planted_task((1, 2), width=8, seed=0)
    for order, lr_times in (("peft", 0.0), ("paper", 0.2)):
        checked = []

        def callback(step, model, allocator, loss, probe):
            if step:
                (_, _), (lam, dlam), (_, _) = probe.scored["layers.1"]
                np.testing.assert_array_equal(dlam, model.layers["layers.1"].grads["lam"])
                kept = model.layers["layers.1"].mask  # (the paper's order masks after scoring)
                np.testing.assert_allclose(lam[kept], (probe.lambdas_tilde[4:] + lr_times * dlam)[kept],
                                           rtol=0, atol=1e-15)
                checked.append(step)

        train_planted(task, adapter="svd", r=4, target_budget=3, total_steps=5, warmup_steps=1,
                      final_steps=1, lr=0.2, callback=callback, order=order, keep_scored=True)
        assert checked == [1, 2, 3, 4, 5]


def test_the_probe_passes_both_moments_on_and_keeps_lambda_before_the_second():
    calls = []
    layer = SVDLinear(np.zeros((3, 2)), np.zeros(3), r=2, alpha=2, rng=0)

    class Allocator:
        layers, last_step = {"a": layer}, None

        def before_optimizer_step(self, step):
            calls.append(("before", step))

        def after_optimizer_step(self, step):
            calls.append(("after", step))
            layer.lam[:] = 0  # masks

    probe = StepProbe(Allocator())
    probe.before_optimizer_step(4)
    layer.lam[:] = [1.0, 2.0]  # the optimizer step
    probe.after_optimizer_step(4)
    assert calls == [("before", 4), ("after", 4)]
    assert list(probe.lambdas_tilde) == [1.0, 2.0] and probe.scored is None


def test_train_lora_keeps_its_ranks_and_counts_parameters():
    task = make_planted_task((1, 2), width=8, seed=0)
    res = train_planted(task, adapter="lora", r=(1, 2), total_steps=20, method="oracle")
    assert res.method == "oracle" and res.ranks == {"layers.0": 1, "layers.1": 2}
    assert res.n_params == 3 * 16 and res.allocator is None


def test_allocation_error_counts_misplaced_triplets():
    assert allocation_error({"a": 1, "b": 4, "c": 2, "d": 5}, (1, 4, 2, 5)) == 0
    assert allocation_error([1, 5, 1, 5], (1, 4, 2, 5)) == 1
    assert allocation_error([3, 3, 3, 3], (1, 4, 2, 5)) == 3


def test_compare_methods_needs_an_even_uniform_rank():
    with pytest.raises(ConfigError):
        compare_methods((1, 2), seeds=[0], progress=False)


def test_compare_methods_runs_three_methods_per_seed_at_the_same_budget():
    res = compare_methods((1, 3), seeds=[0, 1], width=8, r=4, total_steps=60,
                          warmup_steps=10, final_steps=20, progress=False)
    assert [(r.seed, r.method) for r in res] == [
        (s, m) for s in (0, 1) for m in ("AdaLoRA", "LoRA uniform", "LoRA planted")]
    for r in res:
        assert sum(r.ranks.values()) == 4 and r.model is None
    assert {r.method: r.ranks for r in res if r.seed == 0}["LoRA uniform"] == {
        "layers.0": 2, "layers.1": 2}


def test_default_setting_recovers_the_planted_allocation_and_beats_uniform_lora():
    """The notebook's headline, seed 0: AdaLoRA finds (1, 4, 2, 5) and ends far below LoRA r=3."""
    task = make_planted_task()
    ada = train_planted(task, adapter="svd", r=8, target_budget=task.total_rank, seed=0)
    lora = train_planted(task, adapter="lora", r=task.total_rank // 4, seed=0)
    assert tuple(ada.ranks.values()) == task.planted_ranks
    assert ada.test_loss < 0.2 * lora.test_loss
