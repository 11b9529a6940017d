"""Checkers for notebook 05's "try it" exercises (importance scoring).

Each checker takes the student's answer (None while unanswered) and returns a Feedback: truthy when
right; its text says why, or what to look at again. Checkers never raise on a placeholder.

    check_ema_memory(answer, beta1, fraction)   steps until one sensitivity spike weighs < fraction
    check_smoothing_step(answer, ...)           one step of Ibar and Ubar by hand (eq. 9 and 10)
    check_dominant_term(answer, terms)          which of the three terms makes up most of S_i
    check_summed_score(answer, terms, ...)      S_i of one triplet if eq. (7) summed P's column and
                                                Q's row instead of averaging them
"""
import math

import numpy as np

from ..scoring import smooth
from .feedback import Feedback, agrees, as_number, unanswered


def ema_memory(beta1, fraction):
    """The smallest k >= 1 with beta1**k < fraction: after k more steps, a one-step sensitivity
    spike weighs less than `fraction` of what it weighed when it arrived."""
    k, weight = 1, beta1
    while weight >= fraction:
        k, weight = k + 1, weight * beta1
    return k


def check_ema_memory(answer, beta1=0.85, fraction=0.1):
    """After how many further steps does a spike in I weigh less than `fraction` in Ibar?"""
    right = ema_memory(beta1, fraction)
    if answer is None:
        return unanswered(f"a spike's weight is multiplied by β₁ = {beta1} at every step.")
    value = as_number(answer)
    if value is None or value != int(value):
        return Feedback(False, f"Expected a whole number of steps, got {answer!r}.")
    value = int(value)
    if value == right:
        return Feedback(True, f"Right: {beta1}^{right} = {beta1 ** right:.4f} < {fraction} but "
                              f"{beta1}^{right - 1} = {beta1 ** (right - 1):.4f}. Ibar forgets a "
                              f"minibatch in about {right} steps: that is the window of memory "
                              "the warm-up has to fill before the first masking.")
    if value <= 0:
        return Feedback(False, "The spike needs at least one step to fade.")
    direction = "more" if value < right else "fewer"
    return Feedback(False, f"Not {value}: {beta1}^{value} = {beta1 ** value:.4f}, which is "
                           f"{'not yet' if value < right else 'already'} below {fraction}; "
                           f"try {direction} steps.")


def smoothing_step(ibar, ubar, sensitivity_now, beta1, beta2):
    """(Ibar, Ubar) after one step, computed by the library's `smooth`."""
    new_ibar, new_ubar = smooth(np.float64(ibar), np.float64(ubar), np.float64(sensitivity_now),
                                beta1=beta1, beta2=beta2)
    return float(new_ibar), float(new_ubar)


def check_smoothing_step(answer, ibar=0.02, ubar=0.01, sensitivity_now=0.06, beta1=0.85,
                         beta2=0.85):
    """answer: (new Ibar, new Ubar) for one entry, given the previous Ibar, Ubar and this step's I."""
    right = smoothing_step(ibar, ubar, sensitivity_now, beta1, beta2)
    if answer is None:
        return unanswered("Ibar first (eq. 9); then Ubar (eq. 10), which measures |I − Ibar| "
                          "with one of the two Ibar's: which one?")
    try:
        new_ibar, new_ubar = (as_number(a) for a in answer)
    except (TypeError, ValueError):
        return Feedback(False, f"Expected a pair (Ibar, Ubar), got {answer!r}.")
    if new_ibar is None or new_ubar is None:
        return Feedback(False, f"Expected two numbers, got {answer!r}.")
    ibar_ok, ubar_ok = agrees(new_ibar, right[0]), agrees(new_ubar, right[1])
    if ibar_ok and ubar_ok:
        return Feedback(True, f"Right: Ibar = {right[0]:.5f}, Ubar = {right[1]:.5f}, and the score "
                              f"s = Ibar·Ubar = {right[0] * right[1]:.3e}. Ubar uses the Ibar just "
                              "updated, as the paper and PEFT do.")
    if not ibar_ok:
        return Feedback(False, f"Ibar is off ({new_ibar:g}): Ibar = β₁·Ibar_prev + (1 − β₁)·I.")
    stale = beta2 * ubar + (1 - beta2) * abs(sensitivity_now - ibar)
    if math.isclose(new_ubar, stale, rel_tol=1e-3):
        return Feedback(False, f"Ibar is right; your Ubar ({new_ubar:g}) measured |I − Ibar| with "
                               "the previous Ibar. The uncertainty uses the Ibar you just computed.")
    return Feedback(False, f"Ibar is right; Ubar is off ({new_ubar:g}): "
                           "Ubar = β₂·Ubar_prev + (1 − β₂)·|I − Ibar_new|.")


TERMS = ("s_lam", "mean_s_P", "mean_s_Q")


def dominant_term(terms):
    """The term (one of TERMS) that is the largest of the three for the most triplets."""
    counts = {key: 0 for key in TERMS}
    for t in terms.values():
        stacked = np.stack([np.asarray(t[key]) for key in TERMS])
        for k in np.argmax(stacked, axis=0):
            counts[TERMS[k]] += 1
    return max(TERMS, key=lambda key: counts[key]), counts


def check_dominant_term(answer, terms):
    """Which term is the largest part of S_i for most triplets: "s_lam", "mean_s_P" or "mean_s_Q"?"""
    right, counts = dominant_term(terms)
    if answer is None:
        return unanswered('one of "s_lam", "mean_s_P", "mean_s_Q": look at the right-hand panel.')
    if answer not in TERMS:
        return Feedback(False, f'Answer with one of {", ".join(TERMS)}, got {answer!r}.')
    n = sum(counts.values())
    if answer == right:
        return Feedback(True, f"Right: {right} is the largest term for {counts[right]} of {n} "
                              "triplets. Scaling P's column by c and lambda by 1/c leaves the update "
                              "unchanged, so the column's summed w·grad equals lambda's own "
                              "(and so does Q's row): the same sensitivity, spread over d_out "
                              "(or d_in) entries, and the mean divides it again.")
    return Feedback(False, f"{answer} is the largest term for only {counts[answer]} of {n} "
                           "triplets. Read the share of each colour in the right-hand panel.")


def summed_score(terms, layer, k, d_out, d_in):
    """S_i of triplet k of `layer` if eq. (7) *summed* over P's column (d_out entries) and Q's row
    (d_in entries) instead of averaging: s(lambda) + d_out * mean s(P) + d_in * mean s(Q)."""
    t = terms[layer]
    return float(t["s_lam"][k] + d_out * t["mean_s_P"][k] + d_in * t["mean_s_Q"][k])


def check_summed_score(answer, terms, layer, k, d_out, d_in):
    """answer: S_i of one triplet with sums instead of the paper's means (numbers of section 3)."""
    if answer is None:
        return unanswered(f"a mean over {d_out} entries times {d_out} is their sum; do the same "
                          f"for Q's row ({d_in} entries), then add s(lambda).")
    value = as_number(answer)
    if value is None:
        return Feedback(False, f"Your answer {answer!r} is not a number: give one number.")
    right = summed_score(terms, layer, k, d_out, d_in)
    t = terms[layer]
    s_lam, m_p, m_q = (float(t[key][k]) for key in TERMS)
    if agrees(value, right):
        share = s_lam / right
        return Feedback(True, f"Right: S = {right:.4e}. With sums, the lambda term is only "
                              f"{share:.0%} of it instead of {s_lam / float(t['sum'][k]):.0%}: the "
                              f"{d_out + d_in} entries of P's column and Q's row would outvote the "
                              "one lambda, and a layer with wide matrices would score high for its "
                              "width alone. The paper's 1/d1 and 1/d2 prevent that.")
    if agrees(value, float(t["sum"][k])):
        return Feedback(False, "That is the allocator's S, with the paper's means. Turn each mean "
                               "back into a sum first.")
    if agrees(value, s_lam + d_in * m_p + d_out * m_q):
        return Feedback(False, f"P's column has d_out = {d_out} entries (P is d_out x r), Q's row "
                               f"d_in = {d_in}: the factors are swapped.")
    if agrees(value, d_out * m_p + d_in * m_q):
        return Feedback(False, "Almost: s(lambda_i) itself is the first of the three terms.")
    return Feedback(False, f"Not {value:g}. S = s(lambda) + {d_out} x (mean of s(P)) + {d_in} x "
                           "(mean of s(Q)), with the numbers printed in section 3.")


def scoring_or_reference(sensitivity=None, smooth=None, triplet_score=None):
    """{"sensitivity", "smooth", "triplet_score"}: each of the learner's write-it functions of
    notebook 05 that passes its checker, else the reference solution; prints which is used."""
    from . import solutions, write_it
    from .build import _use_or_reference
    return {name: _use_or_reference(fn, check, getattr(solutions, name), name)
            for name, fn, check in (("sensitivity", sensitivity, write_it.check_sensitivity),
                                    ("smooth", smooth, write_it.check_smooth),
                                    ("triplet_score", triplet_score, write_it.check_triplet_score))}
