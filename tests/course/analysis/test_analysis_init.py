"""Data-aware LoRA initializations: zero start (or unchanged function), NumPy == torch."""
import numpy as np
import pytest
import torch

from adalora_lite import nn as ann
from adalora_lite import reference
from adalora_lite.labs.data_aware_init import (INIT_METHODS, ROW_NORM, apply_init, collect_input_covariances,
                                               covariance_init, input_covariance, pissa_init, top_eigen,
                                               top_singular)
from adalora_lite.labs.learned_update import effective_weight
from adalora_lite.errors import ConfigError


def pair(d_out=20, d_in=12, r=3, alpha=6.0, seed=0):
    """The same frozen layer as a NumPy and a torch LoRALinear (float64 both)."""
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out)
    np_layer = reference.LoRALinear(W.copy(), b, r=r, alpha=alpha, rng=seed)
    lin = torch.nn.Linear(d_in, d_out).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W))
        lin.bias.copy_(torch.tensor(b))
    return np_layer, ann.LoRALinear(lin, r=r, alpha=alpha), W


def t2n(t):
    return t.detach().numpy()


def test_pissa_residual_keeps_the_function_and_holds_the_principal_part():
    np_layer, t_layer, W = pair()
    x = np.random.default_rng(1).standard_normal((7, 12))
    before = np_layer.forward(x)
    pissa_init(np_layer)
    np.testing.assert_allclose(np_layer.forward(x), before, atol=1e-12)  # function unchanged
    U, S, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(np_layer.delta_weight(), (U[:, :3] * S[:3]) @ Vt[:3], atol=1e-12)
    np.testing.assert_allclose(np_layer.weight, W - (U[:, :3] * S[:3]) @ Vt[:3], atol=1e-12)
    # the residual has W0's remaining singular values, the adapter the top r
    np.testing.assert_allclose(np.linalg.svd(np_layer.weight, compute_uv=False)[:9], S[3:], atol=1e-10)


def test_pissa_residual_float32_torch_function_unchanged_to_1e6():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48)
    layer = ann.LoRALinear(lin, r=8, alpha=16)
    x = torch.randn(10, 64)
    with torch.no_grad():
        before = layer(x).clone()
        pissa_init(layer)
        after = layer(x)
    assert float((after - before).abs().max()) < 1e-6
    assert float(layer.delta_weight().detach().abs().max()) > 0.01  # not a zero start: the residual trick


def test_pissa_zero_b_variant_and_covariance_start_exactly_at_zero():
    np_layer, t_layer, W = pair()
    for layer in (np_layer, t_layer):
        pissa_init(layer, residual=False)
        assert np.all(np.asarray(effective_weight(layer)) == W)  # bit-exact: B = 0, W0 untouched
        norms = np.linalg.norm(np.asarray(layer.A if isinstance(layer.A, np.ndarray) else t2n(layer.A)), axis=1)
        np.testing.assert_allclose(norms, ROW_NORM, rtol=1e-12)
    C = input_covariance(np.random.default_rng(2).standard_normal((50, 12)))
    for layer, cov in ((np_layer, C), (t_layer, torch.tensor(C))):
        covariance_init(layer, cov)
        assert np.all(np.asarray(effective_weight(layer)) == W)
        B = layer.B if isinstance(layer.B, np.ndarray) else t2n(layer.B)
        assert np.all(B == 0)


@pytest.mark.parametrize("init", ["pissa", "pissa_zero", "covariance"])
def test_numpy_and_torch_give_the_same_adapter(init):
    np_layer, t_layer, W = pair(d_out=30, d_in=16, r=4)
    X = np.random.default_rng(3).standard_normal((40, 16)) @ np.diag(np.linspace(3, 0.1, 16))
    if init == "covariance":
        covariance_init(np_layer, input_covariance(X))
        covariance_init(t_layer, input_covariance(torch.tensor(X)))
    else:
        pissa_init(np_layer, residual=init == "pissa")
        pissa_init(t_layer, residual=init == "pissa")
    np.testing.assert_allclose(t2n(t_layer.A), np_layer.A, atol=1e-10)
    np.testing.assert_allclose(t2n(t_layer.B), np_layer.B, atol=1e-10)
    np.testing.assert_allclose(t2n(t_layer.base.weight), np_layer.weight, atol=1e-10)


def test_covariance_init_takes_the_top_eigenvectors():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((500, 6)) * np.array([5.0, 0.1, 3.0, 0.1, 0.1, 0.1])
    layer = reference.LoRALinear(rng.standard_normal((4, 6)), None, r=2, alpha=2, rng=0)
    covariance_init(layer, input_covariance(X))
    assert set(np.argmax(np.abs(layer.A), axis=1)) == {0, 2}  # the two high-variance inputs
    np.testing.assert_allclose(np.linalg.norm(layer.A, axis=1), ROW_NORM)


def test_sign_convention_and_truncation():
    W = np.random.default_rng(5).standard_normal((9, 7))
    U, S, Vt = top_singular(W, 3)
    assert U.shape == (9, 3) and S.shape == (3,) and Vt.shape == (3, 7)
    idx = np.argmax(np.abs(U), axis=0)
    assert np.all(U[idx, range(3)] > 0)
    np.testing.assert_allclose((U * S) @ Vt, (lambda u, s, v: (u[:, :3] * s[:3]) @ v[:3])(*np.linalg.svd(W)))
    vals, vecs = top_eigen(W.T @ W, 3)
    np.testing.assert_allclose(vals, S ** 2, rtol=1e-10)
    Ut, St, Vtt = top_singular(torch.tensor(W), 3)
    np.testing.assert_allclose(t2n(Ut), U, atol=1e-12)


def test_input_covariance_drops_padding():
    X = np.zeros((2, 3, 4))
    X[0, :2] = 1.0
    X[1, 0] = 2.0
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    X[0, 2] = 100.0  # padding: must not count
    C = input_covariance(X, mask)
    np.testing.assert_allclose(C, (2 * np.ones((4, 4)) + 4 * np.ones((4, 4))) / 3)
    Ct = input_covariance(torch.tensor(X), torch.tensor(mask))
    np.testing.assert_allclose(t2n(Ct), C)


def test_collect_input_covariances_numpy_mlp_and_torch_model_agree():
    rng = np.random.default_rng(6)
    weights = [rng.standard_normal((8, 5)), rng.standard_normal((3, 8))]
    biases = [np.zeros(8), np.zeros(3)]
    mlp = reference.MLP(weights, biases, adapter="lora", r=2, alpha=2, rng=0)
    xs = [rng.standard_normal((4, 5)), rng.standard_normal((6, 5))]
    covs = collect_input_covariances(mlp, xs)
    X = np.vstack(xs)
    np.testing.assert_allclose(covs["layers.0"], X.T @ X / 10)
    assert "forward" not in vars(mlp.layers["layers.0"])  # the wrappers are gone

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l0 = torch.nn.Linear(5, 8).double()
            self.l1 = torch.nn.Linear(8, 3).double()
            with torch.no_grad():
                for lin, w in ((self.l0, weights[0]), (self.l1, weights[1])):
                    lin.weight.copy_(torch.tensor(w))
                    lin.bias.zero_()

        def forward(self, x, attention_mask=None):
            return self.l1(torch.tanh(self.l0(x)))

    net = Net()
    adapters = ann.add_adapters(net, ["l0", "l1"], adapter="lora", r=2, alpha=2)
    tcovs = collect_input_covariances(net, [{"x": torch.tensor(x)} for x in xs])
    for name, np_name in (("l0", "layers.0"), ("l1", "layers.1")):
        np.testing.assert_allclose(t2n(tcovs[name]), covs[np_name], atol=1e-10)
    assert all(not a._forward_pre_hooks for a in adapters.values())
    # padding rows are masked out through the batch's attention_mask
    mask = torch.tensor([1, 1, 0, 0])
    masked = collect_input_covariances(net, [{"x": torch.tensor(xs[0]), "attention_mask": mask}])
    np.testing.assert_allclose(t2n(masked["l0"]), xs[0][:2].T @ xs[0][:2] / 2, atol=1e-10)


def test_apply_init_and_errors():
    np_layer, t_layer, W = pair()
    assert INIT_METHODS == ("standard", "pissa", "covariance")
    with pytest.raises(ConfigError):
        apply_init({"a": np_layer}, "nope")
    with pytest.raises(ConfigError):
        apply_init({"a": np_layer}, "covariance")
    with pytest.raises(ConfigError):
        covariance_init(np_layer, np.eye(5))
    A = np_layer.A.copy()
    apply_init({"a": np_layer}, "standard")
    assert np.all(np_layer.A == A)
    t_layer.merge()
    with pytest.raises(ConfigError):
        pissa_init(t_layer)
