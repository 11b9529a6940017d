"""regularizer.py: R(P, Q) is zero exactly at orthonormal factors; NumPy and torch agree."""
import numpy as np
import torch

from adalora_lite import orthogonality_grad, orthogonality_penalty


def test_zero_at_orthonormal_factors_and_positive_elsewhere():
    rng = np.random.default_rng(0)
    P = np.linalg.qr(rng.standard_normal((7, 3)))[0]
    Q = np.linalg.qr(rng.standard_normal((5, 3)))[0].T
    assert abs(float(orthogonality_penalty(P, Q))) < 1e-24
    assert all(np.abs(g).max() < 1e-12 for g in orthogonality_grad(P, Q))
    assert float(orthogonality_penalty(2 * P, Q)) > 0


def test_numpy_and_torch_agree_and_the_gradient_is_autograd_s():
    rng = np.random.default_rng(1)
    P, Q = rng.standard_normal((6, 2)), rng.standard_normal((2, 4))
    tP = torch.tensor(P, requires_grad=True)
    tQ = torch.tensor(Q, requires_grad=True)
    value = orthogonality_penalty(tP, tQ)
    value.backward()
    np.testing.assert_allclose(value.item(), float(orthogonality_penalty(P, Q)), rtol=1e-12)
    dP, dQ = orthogonality_grad(P, Q)
    np.testing.assert_allclose(tP.grad.numpy(), dP, rtol=1e-10)
    np.testing.assert_allclose(tQ.grad.numpy(), dQ, rtol=1e-10)
