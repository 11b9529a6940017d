"""Checkers for notebook 09's "try it" exercises (the paper in miniature: reading results through noise).

Each checker takes the student's answer (None while unanswered) and returns a Feedback: truthy
when right, and its text says why, or what to look at again. `a` and `b` are per-seed results of
two arms, {seed: accuracy in %} (`labs.miniature.accuracies`), compared paired by seed.

    check_placement_prediction(runs, task, answer)   which partial placement of LoRA wins (predict first)
    check_paired_se(a, b, answer)                    the standard error of the paired difference a - b
    check_inside_noise(a, b, answer)                 is |mean(a - b)| within NOISE_SE standard errors?
    check_seeds_needed(a, b, answer)                 seeds that would take it out of the noise
"""
import math

import numpy as np

from ..labs import miniature as mini
from ..labs import noise
from .feedback import Feedback, agrees, as_number, not_a_number, unanswered

PARTIAL_PLACEMENTS = ("attention", "ffn", "bottom", "top")


def check_placement_prediction(runs, task, answer):
    """Which of the four partial placements (same parameter count) reaches the best mean accuracy
    on `task`. A placement the data cannot tell apart from the best (paired, inside the noise)
    counts as right too: the recording cannot reject it."""
    if answer is None:
        return unanswered(f"one of {list(PARTIAL_PLACEMENTS)}. The paper (Fig. 1) favours the FFN over "
                          "attention and the top layers over the bottom ones, on DeBERTaV3-base.")
    answer = str(answer).strip().lower()
    if answer not in PARTIAL_PLACEMENTS:
        return Feedback(False, f"{answer!r} is not one of {list(PARTIAL_PLACEMENTS)}.")
    rows = {r["placement"]: r for r in mini.placement_rows(runs, task) if r["placement"] != "all"}
    best = max(rows, key=lambda p: rows[p]["mean"])
    ranking = ", ".join(f"{p} {rows[p]['mean']:.1f}%" for p in sorted(rows, key=lambda p: -rows[p]["mean"]))
    if answer == best:
        return Feedback(True, f"Right: {best} leads on {task} ({ranking}). Before you trust it, check "
                              "its lead over the runner-up against the noise (the table below).")
    c = mini.compare_arms(runs, task, mini.PLACEMENT_ARMS[best], mini.PLACEMENT_ARMS[answer])
    gap = f"{c['mean']:+.2f} ± {c['se']:.2f} (SE) points, paired over {c['n']} seeds"
    if c["inside"]:
        return Feedback(True, f"Not the best mean ({ranking}), but {best} minus {answer} is {gap}: inside "
                              f"the noise ({noise.NOISE_SE:g} SE), so three seeds cannot reject your "
                              "prediction. Neither can they confirm it.")
    return Feedback(False, f"{best} leads on {task} ({ranking}); {best} minus {answer} is {gap}, outside "
                           f"the noise ({noise.NOISE_SE:g} SE). Compare with the paper's Fig. 1: do its "
                           "findings carry over to MiniLM on tweets?")


def _paired_diffs(a, b):
    seeds = sorted(set(a) & set(b))
    return np.array([a[s] - b[s] for s in seeds]), seeds


def check_paired_se(a, b, answer, *, rel_tol=1e-2):
    """SE of the paired difference: std(a_s - b_s, ddof=1) / sqrt(n), in points."""
    d, seeds = _paired_diffs(a, b)
    if answer is None:
        return unanswered("subtract seed by seed (d_s = a_s - b_s), take the sample standard deviation "
                          "of the d_s (divide by n - 1), then divide by sqrt(n).")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    n = len(d)
    expected = noise.compare(d)["se"]
    if agrees(value, expected, rel_tol=rel_tol):
        return Feedback(True, f"Right: SE = {d.std(ddof=1):.3f} / sqrt({n}) = {expected:.3f} points. The "
                              f"mean difference {d.mean():+.3f} is then {abs(d.mean()) / expected:.1f} SE "
                              "from zero.")
    xa, xb = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
    slips = ((d.std(ddof=0) / math.sqrt(n), "that divides by n in the standard deviation: with 3 seeds "
              "the sample std divides by n - 1 (ddof=1), or it underestimates the spread"),
             (d.std(ddof=1), "that is the standard deviation of the differences: the standard error of "
              "their mean divides it by sqrt(n)"),
             (math.sqrt((xa.var(ddof=1) + xb.var(ddof=1)) / n), "that is the *unpaired* standard error, "
              "from each arm's own spread: it ignores that the arms share their seeds (same head init, "
              "same batches), which the paired differences cancel"))
    for wrong, why in slips:
        if agrees(value, wrong, rel_tol=rel_tol) and not agrees(value, expected, rel_tol=rel_tol):
            return Feedback(False, f"{value:g}: {why}.")
    return Feedback(False, f"{value:g} is not it: the differences are {np.round(d, 3).tolist()}; their "
                           "sample std (ddof=1) over sqrt(n).")


def check_inside_noise(a, b, answer):
    """True when |mean(a - b)| <= NOISE_SE * SE (paired): the data cannot tell the arms apart."""
    if answer is None:
        return unanswered(f"compute the mean difference and its SE; 'inside the noise' means "
                          f"|mean| <= {noise.NOISE_SE:g} SE. Answer True (inside) or False.")
    if not isinstance(answer, (bool, np.bool_)):
        return Feedback(False, f"Answer True (inside the noise) or False, not {answer!r}.")
    d, _ = _paired_diffs(a, b)
    c = noise.compare(d)
    why = f"|{c['mean']:+.3f}| against {noise.NOISE_SE:g} x {c['se']:.3f} = {noise.NOISE_SE * c['se']:.3f}"
    if bool(answer) == c["inside"]:
        return Feedback(True, f"Right: {why}, so the difference is {'inside' if c['inside'] else 'outside'} "
                              "the noise." + (" With three seeds this rule is lenient: a 95% t-interval "
                                              "would need 4.30 SE." if not c["inside"] else ""))
    return Feedback(False, f"Not this time: {why}.")


def check_seeds_needed(a, b, answer):
    """The fewest seeds n (>= 2) with |mean| > NOISE_SE * std / sqrt(n), if the mean difference
    and the paired std stayed as measured."""
    if answer is None:
        return unanswered(f"solve |mean| > {noise.NOISE_SE:g} std / sqrt(n) for n, with the paired "
                          "differences' mean and sample std; n is a whole number of seeds.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer, "a whole number of seeds")
    d, _ = _paired_diffs(a, b)
    c = noise.compare(d)
    expected = noise.seeds_needed(c)
    if expected is None:
        return Feedback(False, "No number of seeds separates these: the mean difference is exactly 0, "
                               "or fewer than 2 seeds give no spread to extrapolate.")
    x = (noise.NOISE_SE * c["std"] / abs(c["mean"])) ** 2
    if value == expected:
        return Feedback(True, f"Right: n > ({noise.NOISE_SE:g} x {c['std']:.3f} / {abs(c['mean']):.3f})^2 = "
                              f"{x:.2f}, so {expected} seeds (if the spread stayed; it is itself "
                              "estimated from few seeds).")
    if value == round(x) or value == math.floor(x):
        return Feedback(False, f"Close: ({noise.NOISE_SE:g} std / |mean|)^2 = {x:.2f}, and n must be "
                               f"strictly larger: the next whole number.")
    return Feedback(False, f"{value:g} is not it: the SE shrinks like 1 / sqrt(n); find the n where "
                           f"{noise.NOISE_SE:g} std / sqrt(n) drops below |mean| = {abs(c['mean']):.3f}.")
