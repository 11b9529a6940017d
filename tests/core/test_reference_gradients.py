"""Every hand-written NumPy gradient against central finite differences (float64)."""
import numpy as np
import pytest

from adalora_lite import orthogonality_grad, orthogonality_penalty
from adalora_lite.reference import MLP, LoRALinear, SVDLinear, cross_entropy

EPS = 1e-6


def numerical_grad(f, x):
    """d f / d x by central differences, perturbing `x` in place entry by entry."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + EPS
        up = f()
        x[i] = old - EPS
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * EPS)
    return grad


def random_layer(cls, rng, **kw):
    layer = cls(rng.normal(size=(5, 7)), rng.normal(size=5), r=3, alpha=6.0, rng=rng, **kw)
    for w in layer.params().values():  # leave the zero init so every gradient path is non-trivial
        w[...] = rng.normal(size=w.shape)
    return layer


@pytest.mark.parametrize("cls", [LoRALinear, SVDLinear])
def test_layer_gradients(cls):
    rng = np.random.default_rng(0)
    layer = random_layer(cls, rng)
    x = rng.normal(size=(4, 7))
    g = rng.normal(size=(4, 5))  # loss = sum(h * g), so dL/dh = g

    def loss():
        return float((layer.forward(x) * g).sum())

    loss()
    dx = layer.backward(g)
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-6, atol=1e-8)
    for name, w in layer.params().items():
        np.testing.assert_allclose(layer.grads[name], numerical_grad(loss, w), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


def test_delta_weight_is_what_forward_adds():
    rng = np.random.default_rng(1)
    for cls in (LoRALinear, SVDLinear):
        layer = random_layer(cls, rng)
        x = rng.normal(size=(3, 7))
        expected = x @ (layer.weight + layer.delta_weight()).T + layer.bias
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)


def test_adapters_start_as_the_identity_change():
    rng = np.random.default_rng(2)
    for cls in (LoRALinear, SVDLinear):
        layer = cls(rng.normal(size=(6, 4)), None, r=2, alpha=4.0, rng=rng)
        assert not layer.delta_weight().any()


def test_orthogonality_regularizer_gradient():
    rng = np.random.default_rng(3)
    P, Q = rng.normal(size=(6, 3)), rng.normal(size=(3, 8))
    dP, dQ = orthogonality_grad(P, Q)
    np.testing.assert_allclose(dP, numerical_grad(lambda: float(orthogonality_penalty(P, Q)), P), rtol=1e-6)
    np.testing.assert_allclose(dQ, numerical_grad(lambda: float(orthogonality_penalty(P, Q)), Q), rtol=1e-6)


def test_regularizer_is_zero_exactly_for_orthonormal_factors():
    layer = SVDLinear(np.zeros((9, 5)), None, r=3, alpha=1.0, rng=0)  # orthogonal init
    assert orthogonality_penalty(layer.P, layer.Q) == pytest.approx(0, abs=1e-24)
    assert orthogonality_penalty(2 * layer.P, layer.Q) == pytest.approx(3 * 3**2)  # (4-1)^2 per column


def test_cross_entropy_gradient():
    rng = np.random.default_rng(4)
    logits, labels = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    _, dlogits = cross_entropy(logits, labels)
    np.testing.assert_allclose(dlogits, numerical_grad(lambda: cross_entropy(logits, labels)[0], logits),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("adapter", ["lora", "svd"])
def test_mlp_end_to_end_gradients(adapter):
    rng = np.random.default_rng(5)
    weights = [rng.normal(size=(6, 4)), rng.normal(size=(5, 6)), rng.normal(size=(3, 5))]
    model = MLP(weights, [rng.normal(size=w.shape[0]) for w in weights], adapter=adapter, r=2,
                alpha=3.0, rng=rng)
    for layer in model.layers.values():
        for w in layer.params().values():
            w[...] = rng.normal(size=w.shape) * 0.5
    x, labels = rng.normal(size=(7, 4)), rng.integers(0, 3, 7)

    def loss():
        return cross_entropy(model.forward(x), labels)[0]

    _, dlogits = cross_entropy(model.forward(x), labels)
    dx = model.backward(dlogits)
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-5, atol=1e-9)
    for lname, layer in model.layers.items():
        for name, w in layer.params().items():
            np.testing.assert_allclose(layer.grads[name], numerical_grad(loss, w), rtol=1e-5,
                                       atol=1e-9, err_msg=f"{lname}.{name}")
