"""Checkers of notebooks 01-03's build exercises accept the reference solution and name each slip."""
import numpy as np
import pytest
import torch

from adalora_lite.exercises import build, solutions
from adalora_lite.exercises.solutions_torch import LoRAModule


def svd_keep(W, idx, with_sigma=True):
    U, sigma, Vt = np.linalg.svd(W, full_matrices=False)
    return (U[:, idx] * (sigma[idx] if with_sigma else 1)) @ Vt[idx]


def test_truncate_accepts_the_solution_and_matches_numpy():
    assert build.check_truncate(solutions.truncate)
    W = np.random.default_rng(1).normal(size=(5, 9))
    assert np.linalg.matrix_rank(solutions.truncate(W, 2)) == 2


@pytest.mark.parametrize("slip, words", [
    (lambda W, r: svd_keep(W, slice(0, r + 1)), "r + 1 terms"),
    (lambda W, r: svd_keep(W, slice(0, r - 1)), "r - 1 terms"),
    (lambda W, r: svd_keep(W, slice(0, r), with_sigma=False), "singular values are missing"),
    (lambda W, r: svd_keep(W, slice(min(W.shape) - r, None)), "smallest"),
    (lambda W, r: W, "W itself"),
    (lambda W, r: ..., "Not answered"),
    (lambda W, r: W[:r], "shape"),
])
def test_truncate_names_slips(slip, words):
    verdict = build.check_truncate(slip)
    assert not verdict and words in verdict.message


@pytest.mark.parametrize("slip, words", [
    (lambda t, E, z: E @ z, "theta0 is missing"),
    (lambda t, E, z: t - E @ z, "sign"),
    (lambda t, E, z: t + E.sum(axis=1), "z is missing"),
    (lambda t, E, z: z, "D-dimensional"),
    (lambda t, E, z: ..., "Not answered"),
])
def test_subspace_params_names_slips(slip, words):
    assert build.check_subspace_params(solutions.subspace_params)
    verdict = build.check_subspace_params(slip)
    assert not verdict and words in verdict.message


def test_subspace_params_works_on_torch_tensors():
    t, E, z = torch.zeros(4), torch.ones(4, 2), torch.tensor([1.0, 2.0])
    assert torch.equal(solutions.subspace_params(t, E, z), torch.full((4,), 3.0))


class Scaled(LoRAModule):
    factor = None

    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        self.scale = self.factor(alpha, r)


class NoScale(Scaled):
    factor = staticmethod(lambda a, r: 1.0)


class TimesR(Scaled):
    factor = staticmethod(lambda a, r: a * r)


class SqrtR(Scaled):
    factor = staticmethod(lambda a, r: a / r ** 0.5)


class NonZeroB(LoRAModule):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        torch.nn.init.normal_(self.B)


class Swapped(torch.nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base.requires_grad_(False)
        d_out, d_in = base.weight.shape
        self.A = torch.nn.Parameter(torch.zeros(d_out, r, dtype=base.weight.dtype))
        self.B = torch.nn.Parameter(torch.randn(r, d_in, dtype=base.weight.dtype))

    def forward(self, x):
        return self.base(x) + x @ self.B.T @ self.A.T


class Stub(torch.nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()

    def forward(self, x):
        ...


class NoBase(LoRAModule):
    def forward(self, x):
        return self.scale * (x @ self.A.T) @ self.B.T


@pytest.mark.parametrize("cls, words", [
    (NoScale, "scale is missing"), (TimesR, "alpha * r"), (SqrtR, "rsLoRA"),
    (NonZeroB, "B must start at zero"), (Swapped, "swapped"), (Stub, "Not answered"),
    (NoBase, "exactly base(x)"), (None, "Not answered"),
])
def test_lora_module_names_slips(cls, words):
    verdict = build.check_lora_module(cls)
    assert not verdict and words in verdict.message, verdict.message


def test_lora_module_accepts_the_solution_and_falls_back(capsys):
    assert build.check_lora_module(LoRAModule)
    assert build.lora_module_or_reference(NoScale) is LoRAModule
    assert "reference solution" in capsys.readouterr().out
    assert build.truncate_or_reference(solutions.truncate) is solutions.truncate
    assert "using your" in capsys.readouterr().out
