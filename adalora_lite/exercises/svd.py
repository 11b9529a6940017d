"""Checkers for notebook 04's "try it" exercises (LoRA's doublet vs AdaLoRA's triplet).

Each checker takes the student's answer (None while unanswered) and returns a Feedback: truthy when
right; its text (what the notebook shows) says why, or what to look at again. Checkers never raise
on a placeholder or a malformed answer.

    check_param_count(answer, d_out, d_in, r)       trainable parameters of one SVD adapter
    check_masked_gradient(answer)                   which parts of a masked triplet get a gradient
    check_smallest_gamma(answer, sweep, max_gap)    the smallest gamma whose lambda/sigma gap is small
    check_layer_gap(answer, run, layer)             one layer's lambda/sigma gap, computed by the student
"""
import numpy as np

from ..reference import SVDLinear
from ..labs.svd import lambda_sv_gap, param_counts
from ..regularizer import orthogonality_grad
from .feedback import Feedback, agrees, as_number, unanswered


def check_param_count(answer, d_out=32, d_in=64, r=8):
    """How many trainable parameters does one rank-r SVD adapter on a (d_out, d_in) layer have?"""
    counts = param_counts(d_out, d_in, r)
    right = counts["SVD"]
    if answer is None:
        return unanswered("count the entries of P (d_out, r), lambda (r,) and Q (r, d_in).")
    value = as_number(answer)
    if value is None:
        return Feedback(False, f"Expected a whole number, got {answer!r}.")
    if value == right:
        return Feedback(True, f"Right: r (d_out + d_in + 1) = {r} x ({d_out} + {d_in} + 1) = {right}. "
                              f"Only r = {r} more than LoRA's B A ({counts['LoRA']}): the lambdas "
                              "are the price of being able to switch a direction off without "
                              "losing it.")
    if value == counts["LoRA"]:
        return Feedback(False, f"{counts['LoRA']} is LoRA's count, B (d_out, r) and A (r, d_in). "
                               "The triplet form has one more vector: which?")
    if value == d_out * d_in:
        return Feedback(False, f"{d_out * d_in} is the full weight matrix; the adapter is low-rank.")
    return Feedback(False, f"Not {answer}. Add up the shapes: P is ({d_out}, {r}), lambda ({r},), "
                           f"Q ({r}, {d_in}).")


PARTS = ("P", "lam", "Q")


def measured_masked_gradient(seed=0, gamma=0.0):
    """{part: bool}: does the masked triplet's P column, lambda or Q row get a non-zero gradient
    on the next backward pass? Measured on a small SVDLinear, from the loss plus gamma * R(P, Q)
    (gamma = 0: the loss alone)."""
    rng = np.random.default_rng(seed)
    layer = SVDLinear(rng.standard_normal((6, 5)), r=3, alpha=3, rng=seed)
    layer.lam[:] = rng.standard_normal(3)  # as if trained for a while: lambda grew, and P and Q
    layer.P += 0.1 * rng.standard_normal(layer.P.shape)  # drifted from orthonormal (else R's
    layer.Q += 0.1 * rng.standard_normal(layer.Q.shape)  # gradient would be 0 up to rounding)
    layer.apply_mask(np.array([False, True, True]))  # mask triplet 0
    x = rng.standard_normal((4, 5))
    layer.forward(x)
    layer.backward(rng.standard_normal((4, 6)))  # any upstream gradient
    g = dict(layer.grads)
    reg_P, reg_Q = orthogonality_grad(layer.P, layer.Q)
    g["P"], g["Q"] = g["P"] + gamma * reg_P, g["Q"] + gamma * reg_Q
    def moves(grad):
        return bool(np.abs(grad).max() > 1e-12)  # rounding noise is not a gradient

    return {"P": moves(g["P"][:, 0]), "lam": moves(g["lam"][0]), "Q": moves(g["Q"][0])}


def check_masked_gradient(answer, gamma=0.0):
    """answer: the parts of a masked triplet ("P", "lam", "Q") whose gradient is non-zero on the
    step right after masking (a set, list or tuple of names; an empty set for none), for the
    objective loss + gamma * R(P, Q)."""
    if answer is None:
        return unanswered('a set of names among "P", "lam", "Q", e.g. {"P", "Q"}.')
    if isinstance(answer, str):
        answer = {answer}
    try:
        chosen = set(answer)
    except TypeError:
        return Feedback(False, f'Expected a set of names among "P", "lam", "Q", got {answer!r}.')
    unknown = chosen - set(PARTS)
    if unknown:
        return Feedback(False, f'Unknown part(s) {sorted(map(str, unknown))}: use "P", "lam", "Q".')
    measured = measured_masked_gradient(gamma=gamma)
    right = {part for part in PARTS if measured[part]}
    if chosen == right and gamma:
        return Feedback(True, f"Right, and measured: all three. The loss alone would move only "
                              "lambda (dL/dP_.i and dL/dQ_i. carry the factor lambda_i = 0), but the "
                              f"regularizer gamma R(P, Q) (gamma = {gamma:g}) pulls every column of P "
                              "and row of Q towards orthonormality whatever lambda is: P_.i and Q_i. "
                              "keep moving while the triplet is masked.")
    if chosen == right:
        return Feedback(True, "Right, and measured: only lambda gets a gradient. dL/dP_.i and "
                              "dL/dQ_i. both carry a factor lambda_i, which masking set to 0; "
                              "dL/dlambda_i = P_.i^T G Q_i.^T (G: the gradient with respect to "
                              "the product P diag(lambda) Q) does not. So lambda grows first, "
                              "then P and Q start moving again: the triplet can come back. (With "
                              "the orthogonality regularizer on, P and Q get its gradient too.)")
    wrong = sorted(chosen ^ right)
    regularizer = (f" and add the regularizer's, gamma = {gamma:g}: does R(P, Q) depend on lambda?"
                   if gamma else "?")
    return Feedback(False, f"Not quite ({', '.join(wrong)} wrong). Write the gradients of "
                           f"W = P diag(lambda) Q: which of them contain the factor lambda_i{regularizer}")


def smallest_gamma(sweep, max_gap=0.2, init="orthogonal"):
    """The smallest gamma of the sweep whose final lambda/sigma gap (mean over layers) is below
    `max_gap`, or None."""
    for gamma in sorted(g for i, g in sweep if i == init):
        if np.mean(list(lambda_sv_gap(sweep[(init, gamma)]).values())) < max_gap:
            return gamma
    return None


def check_smallest_gamma(answer, sweep, max_gap=0.2, init="orthogonal"):
    """With the slider: the smallest gamma whose final 'lambda vs sigma gap' is below max_gap."""
    right = smallest_gamma(sweep, max_gap, init)
    if answer is None:
        return unanswered(f"move the γ slider (init = {init}) and watch the gap in the readout.")
    value = as_number(answer)
    gammas = sorted(g for i, g in sweep if i == init)
    if value is None or not any(np.isclose(value, g) for g in gammas):
        values = ", ".join(f"{g:g}" for g in gammas)
        return Feedback(False, f"Pick one of the slider's values: {values}.")
    chosen = min(gammas, key=lambda g: abs(g - value))
    gap = np.mean(list(lambda_sv_gap(sweep[(init, chosen)]).values()))
    if right is not None and np.isclose(value, right):
        return Feedback(True, f"Right: γ = {right:g} is the first with a gap below {max_gap} "
                              f"({gap:.3f}). Below it the lambdas overstate or understate the "
                              "directions they stand for, and ranking them misleads the pruning.")
    if gap >= max_gap:
        return Feedback(False, f"At γ = {value:g} the gap is {gap:.3f}, not below {max_gap}: go higher.")
    return Feedback(False, f"At γ = {value:g} the gap is {gap:.3f}, below {max_gap}, but a smaller "
                           "γ already gets there: go lower.")


def check_layer_gap(answer, run, layer="layers.0"):
    """The student computes one layer's final lambda/sigma gap from a recorded run:
    ||sort(|lam|, largest first) - sigma||_2 / ||sigma||_2. Rounded answers (2 or more significant
    digits) are accepted; the usual slips get their own hint."""
    if answer is None:
        return unanswered("sort |lambda| largest first, subtract the singular values, and divide the "
                          "norm of the difference by the norm of the singular values.")
    value = as_number(answer)
    if value is None:
        return Feedback(False, f"Expected a number, got {answer!r}.")
    right = lambda_sv_gap(run)[layer]
    i, cols = run.row(-1), run.slices()[layer]
    lam, sv = np.abs(run.lambdas[i, cols]), run.sv[i, cols]
    mean_gap = float(np.mean(list(lambda_sv_gap(run).values())))
    if agrees(value, right):
        return Feedback(True, f"Right: {right:.4f}. The tables print the mean over both layers "
                              f"({mean_gap:.4f}); {layer} alone is {'above' if right > mean_gap else 'below'} it.")
    slips = {
        "unsorted": np.linalg.norm(lam - sv) / np.linalg.norm(sv),
        "smallest first": np.linalg.norm(np.sort(lam) - sv) / np.linalg.norm(sv),
        "no division": np.linalg.norm(np.sort(lam)[::-1] - sv),
        "divided by |lambda|": np.linalg.norm(np.sort(lam)[::-1] - sv) / np.linalg.norm(lam),
        "the mean": mean_gap,
    }
    hints = {
        "unsorted": "sort |lambda| largest first: the singular values are sorted, the lambdas are not.",
        "smallest first": "sort |lambda| largest first, like the singular values (np.sort(...)[::-1]).",
        "no division": "divide by ||sigma||_2: the gap is relative.",
        "divided by |lambda|": "divide by the norm of the singular values, not of the lambdas.",
        "the mean": "that is the mean over both layers, printed in the table; compute one layer.",
    }
    for name, x in slips.items():
        if not np.isclose(x, right, rtol=1e-3) and agrees(value, float(x)):
            return Feedback(False, f"Not quite ({value:g}): {hints[name]}")
    return Feedback(False, f"Not quite ({value:g}). Take |lambda| of the last step, sort it largest "
                           "first, subtract sigma, and divide the norm by the norm of sigma.")


# -- a build exercise: the regularizer's gradient, used by a later cell to make P, Q orthonormal ---

def check_orthogonality_grad(fn):
    """fn(P, Q) -> (dR/dP, dR/dQ) of R(P, Q) = ||P^T P - I||_F^2 + ||Q Q^T - I||_F^2 (eq. 4)."""
    from .write_it import _call, _first_difference
    if fn is None:
        return unanswered("differentiate ||M||_F^2 with M = P^T P - I: dR/dP = 4 P (P^T P - I).")
    rng = np.random.default_rng(3)
    P, Q = rng.normal(size=(6, 3)), rng.normal(size=(3, 5))
    got, error = _call(fn, P.copy(), Q.copy())
    if error is not None:
        return error
    if not isinstance(got, tuple) or len(got) != 2:
        return Feedback(False, "Return the pair (dR/dP, dR/dQ).")
    dP, dQ = orthogonality_grad(P, Q)
    eye = np.eye(3)
    wrong = _first_difference(got[0], dP, [
        (dP / 2, "half the gradient: ||M||^2 gives 2 M, and M = P^T P - I holds P twice, so 4 P M."),
        (-dP, "the sign: this is the gradient (uphill); the optimizer subtracts it."),
        (4 * P @ (P.T @ P - eye) ** 2, "M = P^T P - I enters once, not squared: 4 P M."),
        (2 * P @ (P.T @ P - eye) / np.linalg.norm(P.T @ P - eye),
         "that is the gradient of the norm itself; eq. 4 squares it.")])
    if wrong is not None:
        return Feedback(False, "dR/dP: " + wrong.message)
    wrong = _first_difference(got[1], dQ, [
        (dQ / 2, "half the gradient: 4 (Q Q^T - I) Q, not 2."),
        (-dQ, "the sign: this is the gradient (uphill); the optimizer subtracts it."),
        (4 * (Q @ Q.T - eye) ** 2 @ Q, "M = Q Q^T - I enters once, not squared: 4 M Q.")])
    if wrong is not None:
        return Feedback(False, "dR/dQ: " + wrong.message)
    return Feedback(True, "Right: dR/dP = 4 P (P^T P - I) and dR/dQ = 4 (Q Q^T - I) Q; both vanish "
                          "exactly when P's columns and Q's rows are orthonormal.")


def orthogonality_grad_or_reference(fn):
    """The learner's gradient once it passes, else the reference solution (says which)."""
    from . import solutions
    from .build import _use_or_reference
    return _use_or_reference(fn, check_orthogonality_grad, solutions.orthogonality_grad,
                             "gradient of R(P, Q)")
