"""adalora_lite.labs.intrinsic: subspace training stays in its subspace, d90 follows its definition,
and a fine-tuning update is measured, not assumed."""
import numpy as np
import pytest
import torch

from adalora_lite.errors import ConfigError
from adalora_lite.labs.intrinsic import (FlatMLP, SweepResult, accuracy, class_split, find_d90,
                                         subspace_params,
                                    intrinsic_dimension_sweep, pretrain_finetune,
                                    random_projection, train, truncated_update_accuracy)


def _blobs(n=240, seed=0, classes=3, dim=8):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(classes, dim))
    y = np.arange(n) % classes
    X = centers[y] + rng.normal(size=(n, dim))
    return X[: n // 2], y[: n // 2], X[n // 2:], y[n // 2:]


def test_mlp_flat_layout():
    mlp = FlatMLP((8, 5, 3))
    assert mlp.num_params == 8 * 5 + 5 + 5 * 3 + 3
    theta = mlp.init(0)
    (W1, b1), (W2, b2) = mlp.unflatten(theta)
    assert W1.shape == (5, 8) and b2.shape == (3,)
    W1[0, 0] = 123.0  # views: writing through them changes theta
    assert theta[0] == 123.0
    assert torch.equal(mlp.init(0)[1:], theta[1:]) and not torch.equal(mlp.init(1), mlp.init(0))
    zeroed = mlp.zero_head(theta)
    assert torch.count_nonzero(zeroed[-(5 * 3 + 3):]) == 0 and zeroed[0] == 123.0
    with pytest.raises(ConfigError, match="theta must have shape"):
        mlp.unflatten(torch.zeros(3))


def test_random_projection_has_unit_columns_and_is_seeded():
    E = random_projection(50, 7, seed=3)
    assert E.shape == (50, 7)
    torch.testing.assert_close(E.norm(dim=0), torch.ones(7))
    assert torch.equal(E, random_projection(50, 7, seed=3))
    with pytest.raises(ConfigError, match=r"d must be in \[1, inf\]"):
        random_projection(50, 0)


def test_subspace_training_moves_theta_only_inside_the_subspace():
    X, y, _, _ = _blobs()
    mlp = FlatMLP((8, 6, 3))
    theta0 = mlp.init(0)
    E = random_projection(mlp.num_params, 4, seed=1)
    res = train(mlp, theta0, X, y, E=E, steps=50, lr=0.1)
    assert res.num_trained == 4
    torch.testing.assert_close(res.theta, theta0 + E @ res.z)
    # theta - theta0 lies in the column span of E: least squares reproduces it exactly
    z, *_ = torch.linalg.lstsq(E, (res.theta - theta0).unsqueeze(1))
    torch.testing.assert_close(E @ z.squeeze(1), res.theta - theta0, atol=1e-5, rtol=1e-4)
    assert res.losses[-1] < res.losses[0]


def test_full_training_learns_separable_blobs():
    X, y, Xt, yt = _blobs()
    mlp = FlatMLP((8, 16, 3))
    res = train(mlp, mlp.init(0), X, y, steps=100, lr=1e-2)
    assert res.z is None and res.num_trained == mlp.num_params
    assert accuracy(mlp, res.theta, Xt, yt) > 0.9


def test_find_d90_definition():
    dims = [1, 2, 5, 10]
    assert find_d90(dims, [0.1, 0.5, 0.85, 0.95], 0.95) == 10  # 0.855 needed, 0.85 is below
    assert find_d90(dims, [0.1, 0.5, 0.86, 0.95], 0.95) == 5
    assert find_d90(dims, [0.1, 0.2, 0.3, 0.4], 0.95) is None
    assert find_d90([10, 1], [0.9, 0.9], 1.0) == 1  # order of the sweep does not matter
    sweep = SweepResult([1, 2, 5, 10], [0.1, 0.5, 0.86, 0.95], 0.95, 100)
    assert sweep.d90 == 5 and sweep.threshold == pytest.approx(0.855)


def test_sweep_accuracy_grows_with_d_and_is_reproducible():
    data = _blobs(seed=2)
    mlp = FlatMLP((8, 8, 3))
    theta0 = mlp.init(0)
    kw = dict(steps=60, progress=False)
    a = intrinsic_dimension_sweep(mlp, theta0, data, [1, 30], **kw)
    b = intrinsic_dimension_sweep(mlp, theta0, data, [30, 1], **kw)
    assert a.accuracy == b.accuracy and a.dims == [1, 30]
    assert a.accuracy[1] > a.accuracy[0]
    assert a.full_accuracy > 0.9 and a.num_params == mlp.num_params


def test_class_split_relabels_in_order():
    X = np.arange(12).reshape(6, 2)
    y = np.array([5, 1, 7, 5, 9, 7])
    Xs, ys = class_split(X, y, [7, 5])
    assert ys.tolist() == [1, 0, 1, 0] and Xs[:, 0].tolist() == [0, 4, 6, 10]


def test_pretrain_finetune_delta_and_truncation():
    a, b = _blobs(seed=3), _blobs(seed=4)
    mlp = FlatMLP((8, 12, 12, 3))
    res = pretrain_finetune(mlp, a, b, pretrain_steps=60, finetune_steps=60)
    assert res.accuracy_pre_on_a > 0.9 and res.accuracy_ft_on_b > 0.9
    assert [d.shape for d in res.delta] == [(12, 8), (12, 12), (3, 12)]
    np.testing.assert_allclose(res.W_pre[-1], 0)  # fresh head
    for d, ft, pre in zip(res.delta, res.W_ft, res.W_pre):
        np.testing.assert_allclose(pre + d, ft)
    accs = truncated_update_accuracy(res, [12], b[2], b[3])
    assert accs[0] == pytest.approx(res.accuracy_ft_on_b)  # full rank = the fine-tuned model


def test_train_runs_through_any_subspace_map():
    X, y, _, _ = _blobs()
    mlp = FlatMLP((8, 6, 3))
    theta0 = mlp.init(seed=0)
    E = random_projection(mlp.num_params, 5, seed=1)
    default = train(mlp, theta0, X, y, E=E, steps=10, lr=0.1)
    same = train(mlp, theta0, X, y, E=E, steps=10, lr=0.1, subspace=lambda t, E, z: t + E @ z)
    assert torch.equal(default.theta, same.theta) and torch.equal(default.z, same.z)
    wrong = train(mlp, theta0, X, y, E=E, steps=10, lr=0.1, subspace=lambda t, E, z: E @ z)
    assert not torch.allclose(wrong.theta, default.theta)
    assert torch.allclose(subspace_params(theta0, E, default.z), default.theta)
