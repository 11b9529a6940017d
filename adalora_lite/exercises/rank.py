"""Checkers for notebook 01's "try it" exercises (rank and low-rank approximation).

Each checker takes the student's answer (None while unanswered) and returns a Feedback: truthy
when right, and its text (what the notebook shows) says why, or what to look at again.

    check_tail_error(sigma, r, answer)          Frobenius error of the best rank-r approximation
    check_breakeven_rank(d_out, d_in, answer)      largest r at which (d_out + d_in) r still saves parameters
    check_rank_for_budget(d_out, d_in, fraction, answer)   largest r whose factors hold <= fraction of d_out d_in
    check_rank_for_error(approx, target, answer)   smallest r with relative error <= target
"""
import math

import numpy as np

from ..counting import parameter_count
from ..labs.rank import LowRankApprox, breakeven_rank, energy_rank, tail_error
from .feedback import Feedback, agrees, as_number, not_a_number, unanswered


def check_tail_error(sigma, r, answer, *, rel_tol=1e-3):
    """||W - W_r||_F for the best rank-r approximation of a matrix with singular values sigma."""
    if answer is None:
        return unanswered("Eckart-Young says the error is made of the singular values you drop.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    sigma = [float(x) for x in sigma]
    expected = tail_error(sigma, r)
    if agrees(value, expected, rel_tol=rel_tol):
        return Feedback(True, f"Right: sqrt({' + '.join(f'{x:g}^2' for x in sigma[r:])}) = "
                              f"{expected:.4g}, without ever forming W.")
    if math.isclose(value, sum(sigma[r:]), rel_tol=rel_tol):
        return Feedback(False, "Close: you added the dropped singular values. The Frobenius error "
                               "adds their squares, then takes the square root.")
    if math.isclose(value, sum(x * x for x in sigma[r:]), rel_tol=rel_tol):
        return Feedback(False, "Almost: that is the squared error. Take the square root.")
    if r < len(sigma) and math.isclose(value, sigma[r], rel_tol=rel_tol):
        return Feedback(False, "That is the spectral-norm error (the largest dropped singular "
                               "value). The question asks for the Frobenius norm.")
    return Feedback(False, f"Not quite ({value:.4g}). Keep the {r} largest singular values; the "
                           "error comes from the others only.")


def check_breakeven_rank(d_out, d_in, answer):
    """The largest integer r with (d_out + d_in) r < d_out d_in for a (d_out, d_in) matrix."""
    if answer is None:
        return unanswered("solve (d_out + d_in) r < d_out d_in for the largest whole number r.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    expected = breakeven_rank(d_out, d_in)
    full = parameter_count(d_out, d_in, kind="full")
    if value == expected:
        return Feedback(True, f"Right: r = {expected} stores {parameter_count(d_out, d_in, expected):,} "
                              f"numbers < {full:,}; r = {expected + 1} would store "
                              f"{parameter_count(d_out, d_in, expected + 1):,}. LoRA's r = 8 is far below.")
    if value != int(value):
        return Feedback(False, "A rank is a whole number: round d_out d_in / (d_out + d_in) the right way.")
    if value > expected:
        return Feedback(False, f"At r = {int(value)} the factors hold "
                               f"{parameter_count(d_out, d_in, int(value)):,} numbers, not fewer than "
                               f"d_out d_in = {full:,}.")
    return Feedback(False, f"r = {int(value)} does save parameters, but a larger r still does too.")


def check_rank_for_budget(d_out, d_in, fraction, answer):
    """The largest integer r with (d_out + d_in) r <= fraction * d_out d_in: LoRA's factors for a (d_out, d_in) matrix
    within a parameter budget given as a fraction of the full matrix."""
    if answer is None:
        return unanswered(f"the factors hold (d_out + d_in) r numbers; solve (d_out + d_in) r <= {fraction:g} d_out d_in "
                          "for the largest whole number r.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    full = parameter_count(d_out, d_in, kind="full")
    expected = int(math.floor(fraction * full / (d_out + d_in) * (1 + 1e-12)))
    if value != int(value):
        return Feedback(False, f"A rank is a whole number: {fraction:g} d_out d_in / (d_out + d_in) = "
                               f"{fraction * full / (d_out + d_in):.2f} is not one. Which way must you round "
                               "so the factors stay within the budget?")
    r = int(value)
    if r == expected:
        share = parameter_count(d_out, d_in, r) / full
        return Feedback(True, f"Right: r = {r} stores {parameter_count(d_out, d_in, r):,} numbers "
                              f"({share:.3%} of {full:,}); r = {r + 1} would store "
                              f"{parameter_count(d_out, d_in, r + 1):,} "
                              f"({parameter_count(d_out, d_in, r + 1) / full:.3%}). The bigger the matrix, "
                              "the larger the rank a fixed fraction buys.")
    if r == breakeven_rank(d_out, d_in):
        return Feedback(False, f"r = {r} is the break-even rank, where the factors are just under "
                               f"100% of W. The question asks for {fraction:.0%} of it.")
    if r < 1:
        return Feedback(False, "A LoRA rank is at least 1.")
    share = parameter_count(d_out, d_in, r) / full
    if r > expected:
        return Feedback(False, f"At r = {r} the factors hold {parameter_count(d_out, d_in, r):,} numbers, "
                               f"{share:.3%} of d_out d_in: over the {fraction:.0%} budget.")
    return Feedback(False, f"r = {r} fits ({share:.3%} of d_out d_in), but a larger rank still does.")


def check_rank_for_error(approx, target, answer):
    """The smallest r whose best rank-r approximation has relative Frobenius error <= target.

    approx: a LowRankApprox (one SVD of the matrix in question)."""
    if answer is None:
        return unanswered("move the slider, or read it off the spectrum: the relative error is "
                          "sqrt(sum of dropped sigma_i^2 / sum of all sigma_i^2).")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    if value != int(value) or not 1 <= value <= approx.n:
        return Feedback(False, f"A rank is a whole number between 1 and {approx.n}.")
    r = int(value)
    err = approx.relative_error(r)
    if err > target:
        return Feedback(False, f"At r = {r} the relative error is {err:.2%}, above {target:.0%}: "
                               "keep more singular values.")
    if r > 1 and approx.relative_error(r - 1) <= target:
        return Feedback(False, f"r = {r} reaches it ({err:.2%}), but so does a smaller rank: "
                               "find the smallest.")
    return Feedback(True, f"Right: r = {r} gives {err:.2%} <= {target:.0%} with "
                          f"{parameter_count(*approx.shape, r) / parameter_count(*approx.shape, kind='full'):.1%} "
                          "of the parameters.")


def check_energy_rank(s, answer, *, fraction=0.9, shown=None):
    """The fewest directions holding `fraction` of the energy ||M||_F^2 = sum sigma_i^2.

    s: the singular values, or the matrix M itself. `shown`: a level whose rank the notebook
    already prints, so that copying it gets its own message. Notebooks 02 and 08 use it."""
    if answer is None:
        return unanswered("energy is the squared singular values: add them from the largest (np.cumsum) "
                          f"until you reach {fraction:.0%} of the total.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    s = np.asarray(s, float)
    s = LowRankApprox(s).sigma if s.ndim == 2 else np.sort(s)[::-1]
    share = np.cumsum(s ** 2) / np.sum(s ** 2)
    if value != int(value) or not 1 <= value <= len(s):
        return Feedback(False, f"A number of directions is a whole number between 1 and {len(s)}.")
    r, expected = int(value), energy_rank(s, fraction)
    if r == expected:
        before = f" ({r - 1} hold {share[r - 2]:.2%})" if r > 1 else ""
        return Feedback(True, f"Right: {r} of {len(s)} directions hold {share[r - 1]:.2%} of the energy"
                              f"{before}.")
    if shown is not None and shown != fraction and r == energy_rank(s, shown):
        return Feedback(False, f"That is the rank for {shown:.0%}, printed above. {fraction:.0%} needs "
                               "more directions: how many more?")
    plain = int(np.searchsorted(np.cumsum(s) / np.sum(s), fraction - 1e-12) + 1)
    if r == plain:
        return Feedback(False, f"{r} is where the plain singular values reach {fraction:.0%}: energy "
                               "means squared singular values (||M||_F^2 = sum sigma_i^2).")
    if share[r - 1] < fraction * (1 - 1e-12):
        return Feedback(False, f"The top {r} directions hold {share[r - 1]:.2%}, short of "
                               f"{fraction:.0%}: keep more.")
    return Feedback(False, f"{r} directions hold {share[r - 1]:.2%}, enough, but fewer already reach "
                           f"{fraction:.0%}: find the smallest.")
