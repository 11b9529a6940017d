"""Checkers for the exercises in which the learner builds a mechanism that a later cell uses.

Each check_X(fn) calls the learner's code on fixed inputs, compares with the library and names
common slips; each X_or_reference(fn) returns the learner's code once it passes, else the
reference solution (adalora_lite.exercises.solutions, solutions_torch), and says which one the notebook uses.
"""
import numpy as np

from .feedback import Feedback, unanswered
from .write_it import _call, _first_difference


# -- notebooks 01-03: the rank-r truncation, the random-subspace map, a LoRA layer (torch) -------

def _use_or_reference(fn, check, reference, what):
    """The learner's `fn` if `check(fn)` passes, else the reference solution, saying which."""
    verdict = check(fn)
    if verdict:
        print(f"using your {what}")
        return fn
    print(f"using the reference solution until yours passes ({what})")
    return reference


def check_truncate(fn):
    """fn(W, r) -> W_r, the best rank-r approximation from the SVD."""
    if fn is None:
        return unanswered("U, sigma, Vt = np.linalg.svd(W, full_matrices=False); keep the first r.")
    rng = np.random.default_rng(0)
    W, r = rng.normal(size=(6, 8)), 3
    got, error = _call(fn, W.copy(), r)
    if error is not None:
        return error
    U, sigma, Vt = np.linalg.svd(W, full_matrices=False)
    keep = lambda idx: (U[:, idx] * sigma[idx]) @ Vt[idx]  # noqa: E731
    wrong = _first_difference(got, keep(slice(0, r)), [
        (keep(slice(0, r + 1)), "that keeps r + 1 terms: U[:, :r] already holds r columns (0 .. r-1)."),
        (keep(slice(0, r - 1)), "that keeps r - 1 terms: U[:, :r] holds r columns (0 .. r-1)."),
        (U[:, :r] @ Vt[:r], "the singular values are missing: W_r = U_r diag(sigma_r) V_r^T."),
        (keep(slice(len(sigma) - r, None)), "those are the r smallest singular values; NumPy sorts "
                                            "sigma in decreasing order, so keep the first r."),
        (W, "that is W itself: keep only the first r terms.")])
    if wrong is not None:
        return wrong
    return Feedback(True, "Right: W_r = U[:, :r] diag(sigma[:r]) V^T[:r], the best rank-r "
                          "approximation (Eckart-Young).")


def truncate_or_reference(fn):
    from . import solutions
    return _use_or_reference(fn, check_truncate, solutions.truncate, "rank-r truncation")


def check_subspace_params(fn):
    """fn(theta0, E, z) -> theta = theta0 + E z."""
    if fn is None:
        return unanswered("theta has D entries: start from theta0 and add the d columns of E "
                          "weighted by z.")
    rng = np.random.default_rng(0)
    theta0, E, z = rng.normal(size=7), rng.normal(size=(7, 3)), rng.normal(size=3)
    got, error = _call(fn, theta0.copy(), E.copy(), z.copy())
    if error is not None:
        return error
    got = np.asarray(got, dtype=float)
    if got.shape == (3,):
        return Feedback(False, f"Your result has shape {got.shape}, z's shape: theta lives in the "
                               "D-dimensional parameter space, theta0 + E z has D entries.")
    wrong = _first_difference(got, theta0 + E @ z, [
        (E @ z, "theta0 is missing: z moves the parameters away from their start theta0."),
        (theta0 - E @ z, "the sign: theta = theta0 + E z."),
        (theta0 + E.sum(axis=1), "z is missing: each column of E is weighted by its entry of z.")])
    if wrong is not None:
        return wrong
    return Feedback(True, "Right: theta = theta0 + E z; the optimizer moves only z, and the "
                          "gradient it sees is E^T times the gradient with respect to theta.")


def subspace_params_or_reference(fn):
    from . import solutions
    return _use_or_reference(fn, check_subspace_params, solutions.subspace_params,
                             "theta = theta0 + E z")


def check_lora_module(cls):
    """cls(base, r, alpha): a torch LoRA layer around the frozen nn.Linear `base`, with attributes
    A (r, d_in) and B (d_out, r) and forward(x) = base(x) + (alpha/r) x A^T B^T."""
    import torch
    from torch import nn

    from ..nn.layers import LoRALinear

    if cls is None:
        return unanswered("A (r, d_in) random, B (d_out, r) zero, forward adds (alpha/r) x A^T B^T.")
    torch.manual_seed(0)
    base = nn.Linear(8, 6).double()
    r, alpha = 4, 8.0
    x = torch.randn(5, 8, dtype=torch.float64)
    try:
        layer = cls(base, r, alpha)
        A, B = layer.A, layer.B
    except AttributeError:
        return Feedback(False, "Not answered yet: your layer has no A or B; write __init__ and forward.")
    except Exception as err:  # the student's code
        return Feedback(False, f"Building your layer raised {type(err).__name__}: {err} "
                               "(it should be cls(base, r, alpha) with attributes A and B).")
    if tuple(A.shape) == (6, r) and tuple(B.shape) == (r, 8):
        return Feedback(False, "A and B are swapped: A is (r, d_in), it reads the input; B is "
                               "(d_out, r), it writes the output.")
    if tuple(A.shape) != (r, 8) or tuple(B.shape) != (6, r):
        return Feedback(False, f"A has shape {tuple(A.shape)} and B {tuple(B.shape)}; expected "
                               f"A (r, d_in) = {(r, 8)} and B (d_out, r) = {(6, r)}.")
    trainable = {id(p) for p in layer.parameters() if p.requires_grad}
    if id(A) not in trainable or id(B) not in trainable:
        return Feedback(False, "A and B must be trainable: make them nn.Parameter.")
    if id(base.weight) in trainable:
        return Feedback(False, "W0 must stay frozen: base.requires_grad_(False).")
    if torch.count_nonzero(B).item():
        return Feedback(False, "B must start at zero, so that B A = 0 and training starts exactly "
                               "at the pretrained layer.")
    if not torch.count_nonzero(A).item():
        return Feedback(False, "A must start random: with A = 0 and B = 0 neither gets a gradient.")
    with torch.no_grad():
        start = layer(x)
    if not torch.allclose(start, base(x)):
        return Feedback(False, "At the start (B = 0) your layer should give exactly base(x): the frozen layer "
                               "W0 x + b is part of the output.")
    ref = LoRALinear(base, r=r, alpha=alpha)
    with torch.no_grad():
        B_test = torch.randn(6, r, dtype=torch.float64)
        A.copy_(ref.A)
        B.copy_(B_test)
        ref.B.copy_(B_test)
        got = layer(x)
        expected = ref(x)
        bax = x @ ref.A.T @ B_test.T
    if tuple(got.shape) != tuple(expected.shape):
        return Feedback(False, f"Your output has shape {tuple(got.shape)}; expected "
                               f"{tuple(expected.shape)}.")
    slips = [(1.0, "the scale is missing: the update is (alpha/r) B A, not B A."),
             (alpha * r, "alpha * r: the scale is alpha divided by r."),
             (alpha / r ** 0.5, "alpha / sqrt(r) is rsLoRA's scale; LoRA's is alpha / r."),
             (alpha, "the scale is alpha/r: divide by r.")]
    if not torch.allclose(got, expected):
        for factor, why in slips:
            if torch.allclose(got, base(x) + factor * bax):
                return Feedback(False, f"Not yet: {why}")
        if torch.allclose(got, ref.scale * bax):
            return Feedback(False, "Not yet: the frozen layer is missing, h = W0 x + b + (alpha/r) B A x.")
        return Feedback(False, "Not yet: with the same A and B your output differs from "
                               "W0 x + b + (alpha/r) B A x.")
    return Feedback(True, "Right: B = 0 at the start, h = W0 x + b + (alpha/r) B A x; autograd "
                          "computes the backward you wrote by hand above.")


def lora_module_or_reference(cls):
    from .solutions_torch import LoRAModule
    return _use_or_reference(cls, check_lora_module, LoRAModule, "LoRA layer")
