"""Checkers for notebook 02's "try it" exercises (intrinsic dimension).

    check_d_at_fraction(sweep, fraction, answer)   smallest swept d reaching fraction * full accuracy
    check_update_energy(delta, r, answer)          fraction of ||Delta W||_F^2 in its top r directions
    check_energy_rank(delta, answer, fraction=..., shown=...)   shared with 08 (exercises/rank.py)
    check_subspace_counts(D, d, answer)            (trained numbers, numbers stored in E)
"""
import math

from ..labs.intrinsic import find_d90
from ..labs.rank import LowRankApprox
from .feedback import Feedback, as_number, not_a_number, unanswered
from .rank import check_energy_rank  # noqa: F401 (notebook 02's exercise 3; one checker for 02 and 08)


def check_d_at_fraction(sweep, fraction, answer):
    """sweep: a SweepResult. The answer is one of the d values in sweep.dims."""
    if answer is None:
        return unanswered(f"compare each accuracy with {fraction:.0%} of the full-training accuracy.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    expected = find_d90(sweep.dims, sweep.accuracy, sweep.full_accuracy, fraction)
    threshold = fraction * sweep.full_accuracy
    if expected is None:
        return Feedback(False, f"No swept d reaches {threshold:.3f}: extend the sweep.")
    if value == expected:
        return Feedback(True, f"Right: d = {expected} is the first to reach {threshold:.3f} "
                              f"({fraction:.0%} of {sweep.full_accuracy:.3f}), training "
                              f"{expected / sweep.num_params:.1%} as many numbers as full training.")
    if value not in sweep.dims:
        return Feedback(False, f"Pick one of the d values that were swept: {sweep.dims}.")
    acc = sweep.accuracy[sweep.dims.index(value)]
    if acc < threshold:
        return Feedback(False, f"At d = {int(value)} the accuracy is {acc:.3f}, below "
                               f"{threshold:.3f}.")
    return Feedback(False, f"d = {int(value)} reaches {threshold:.3f}, but a smaller d already does.")


def check_update_energy(delta, r, answer, *, abs_tol=0.005):
    """delta: a matrix (e.g. one layer's Delta W). Answer as a fraction in [0, 1] (or a percent)."""
    if answer is None:
        return unanswered("square the singular values of Delta W, then divide the sum of the first r "
                          "by the sum of all of them.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    approx = LowRankApprox(delta)
    expected = approx.energy(r)
    if 1 < value <= 100 and math.isclose(value / 100, expected, abs_tol=abs_tol):
        value /= 100  # a percentage is fine
    if math.isclose(value, expected, abs_tol=abs_tol):
        return Feedback(True, f"Right: the top {r} of {approx.n} directions hold {expected:.1%} of the "
                              f"update's energy (relative error of the rank-{r} update: "
                              f"{approx.relative_error(r):.1%}).")
    s = approx.sigma
    if math.isclose(value, s[:r].sum() / s.sum(), abs_tol=abs_tol):
        return Feedback(False, "Close: you summed the singular values themselves. Energy "
                               "(||.||_F^2) adds their squares.")
    if math.isclose(value, approx.relative_error(r), abs_tol=abs_tol):
        return Feedback(False, "That is the relative error of the rank-r update, not the energy kept.")
    return Feedback(False, f"Not quite ({value:.3f}). Use np.linalg.svd(delta, compute_uv=False).")


def check_subspace_counts(D, d, answer):
    """answer: (numbers trained, numbers stored in E) for theta = theta0 + E z with z of size d."""
    if answer is None:
        return unanswered("z is what the optimizer sees; E is a fixed D x d matrix.")
    try:
        trained, stored = (float(a) for a in answer)
    except (TypeError, ValueError):
        return Feedback(False, f"Give a pair (trained, stored in E), not {answer!r}.")
    if trained == d and stored == D * d:
        return Feedback(True, f"Right: {d:,} numbers trained, but E holds {D * d:,}: one reason "
                              "Li et al. use sparse or Fastfood projections at scale, and why LoRA "
                              "learns its low-dimensional factors instead of fixing them at random.")
    if trained == D:
        return Feedback(False, "The optimizer never touches theta directly: only z is trained.")
    if trained != d:
        return Feedback(False, "How many entries does z have?")
    return Feedback(False, f"The number trained is right; E has one column of length D = {D:,} "
                           f"for each of the d = {d} entries of z.")
