"""Checkers for the "write it yourself" exercises: the student writes AdaLoRA's scoring in NumPy.

Each checker takes the student's function (None while unanswered), calls it on random inputs and
compares with the library (`adalora_lite.scoring`, `adalora_lite.schedule`). The feedback names
the first entry that differs and, where the result matches a common slip, why.
Reference solutions: `adalora_lite.exercises.solutions`.

    check_sensitivity(fn)      fn(w, grad) -> I, elementwise
    check_smooth(fn)           fn(ibar, ubar, i_now, beta1, beta2) -> (ibar, ubar)
    check_triplet_score(fn)    fn(s_P, s_lam, s_Q) -> S, one layer
    check_top_b_mask(fn)       fn(scores, b) -> boolean keep-mask
    check_cubic_budget(fn)     fn(t, T, b0, bT, t_i, t_f) -> b(t)
"""
import numpy as np

from ..schedule import budget_schedule
from ..scoring import layer_triplet_scores, sensitivity, smooth, top_b_mask
from .feedback import Feedback, unanswered


def _call(fn, *args):
    """(result, None) or (None, Feedback) when the student's function raised, or is still the
    notebook's stub (it returns None or ...)."""
    try:
        got = fn(*args)
    except Exception as err:  # the student's code: report any failure, never crash the notebook
        return None, Feedback(False, f"Your function raised {type(err).__name__}: {err}")
    if got is None or got is Ellipsis:
        return None, Feedback(False, "Not answered yet: your function returns "
                                     f"{'None' if got is None else '...'}; write its body.")
    return got, None


def _first_difference(got, expected, slips):
    """Feedback on an array result: right, a known slip, or the first entry that differs."""
    got = np.asarray(got)
    if got.shape != expected.shape:
        return Feedback(False, f"Your result has shape {got.shape}; expected {expected.shape}.")
    if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        return None
    for wrong, why in slips:
        if np.allclose(got, wrong, rtol=1e-9, atol=1e-12):
            return Feedback(False, f"Not yet: {why}")
    index = tuple(int(i) for i in np.argwhere(~np.isclose(got, expected, rtol=1e-9, atol=1e-12))[0])
    return Feedback(False, f"Entry {index if len(index) > 1 else index[0]} differs: yours "
                           f"{got[index]:.6g}, expected {expected[index]:.6g}.")


def check_sensitivity(fn):
    if fn is None:
        return unanswered("the sensitivity of one weight is the size of weight times gradient.")
    rng = np.random.default_rng(0)
    w, grad = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    got, error = _call(fn, w.copy(), grad.copy())
    if error is not None:
        return error
    wrong = _first_difference(got, sensitivity(w, grad), [
        (w * grad, "a sensitivity is a size: take the absolute value of w * grad."),
        (np.abs(grad), "the weight matters too: I(w) = |w * dL/dw|, not |dL/dw|.")])
    if wrong is not None:
        return wrong
    return Feedback(True, "Right: I = |w * grad|, the first-order change of the loss if w were "
                          "set to zero (a Taylor expansion around w).")


def check_smooth(fn, beta1=0.85, beta2=0.85):
    if fn is None:
        return unanswered("update Ibar first; Ubar then measures |I - Ibar| with the new Ibar.")
    rng = np.random.default_rng(1)
    ibar, ubar, i_now = (np.abs(rng.normal(size=5)) for _ in range(3))
    got, error = _call(fn, ibar.copy(), ubar.copy(), i_now.copy(), beta1, beta2)
    if error is not None:
        return error
    if not isinstance(got, tuple) or len(got) != 2:
        return Feedback(False, "Return the pair (ibar, ubar).")
    new_ibar, new_ubar = smooth(ibar, ubar, i_now, beta1=beta1, beta2=beta2)
    swapped = beta1 * i_now + (1 - beta1) * ibar
    wrong = _first_difference(got[0], new_ibar, [
        (swapped, "beta1 is the share of the past Ibar that is kept, so it multiplies ibar.")])
    if wrong is not None:
        return Feedback(False, "Ibar: " + wrong.message)
    stale = beta2 * ubar + (1 - beta2) * np.abs(i_now - ibar)
    wrong = _first_difference(got[1], new_ubar, [
        (stale, "Ubar uses the Ibar you have just updated, not the previous one (eq. 10)."),
        (beta2 * ubar + (1 - beta2) * (i_now - new_ibar), "the deviation is |I - Ibar|: a size.")])
    if wrong is not None:
        return Feedback(False, "Ubar: " + wrong.message)
    return Feedback(True, "Right: both EMAs, in the paper's order. Ibar forgets a minibatch's "
                          f"noise in about 1 / (1 - beta1) = {1 / (1 - beta1):.1f} steps.")


def check_triplet_score(fn, d_out=6, r=4, d_in=5):
    if fn is None:
        return unanswered("s_P's column i and s_Q's row i belong to triplet i: average them.")
    rng = np.random.default_rng(2)
    s_lam, s_P, s_Q = rng.random(r), rng.random((d_out, r)), rng.random((r, d_in))
    got, error = _call(fn, s_P.copy(), s_lam.copy(), s_Q.copy())
    if error is not None:
        return error
    expected = layer_triplet_scores(s_P, s_lam, s_Q)
    wrong = _first_difference(got, expected, [
        (s_lam + s_P.sum(0) + s_Q.sum(1), "the paper averages over P's column and Q's row "
                                              "(1/d1 and 1/d2), it does not sum them."),
        (s_P.mean(0) + s_Q.mean(1), "s(lambda_i) itself is the first of the three terms.")])
    if wrong is not None:
        return wrong
    return Feedback(True, "Right: S_i = s(lambda_i) + mean of s(P_:i) + mean of s(Q_i:). The "
                          "means keep a large d_in from drowning out lambda.")


def check_top_b_mask(fn, b=2):
    if fn is None:
        return unanswered("sort the scores from high to low and keep the first b.")
    scores = np.array([0.3, 0.9, 0.1, 0.7, 0.5, 0.2, 0.7])  # a tie at the b-th score on purpose
    got, error = _call(fn, scores.copy(), b)
    if error is not None:
        return error
    got = np.asarray(got)
    if got.shape != scores.shape or got.dtype != bool:
        return Feedback(False, f"Return a boolean array of shape {scores.shape} (True = kept); "
                               f"got dtype {got.dtype}, shape {got.shape}.")
    expected = top_b_mask(scores, b)
    if int(got.sum()) != b:
        return Feedback(False, f"You keep {int(got.sum())} triplets; the budget is exactly b = {b}.")
    if np.array_equal(got, top_b_mask(-scores, b)):
        return Feedback(False, "You keep the *lowest* scores: AdaLoRA masks the least important.")
    if not np.array_equal(got, expected):
        index = int(np.argmax(got != expected))
        return Feedback(False, f"Entry {index} (score {scores[index]}) should be "
                               f"{'kept' if expected[index] else 'masked'}: of tied scores, "
                               "keep the one with the lower index (a stable sort).")
    return Feedback(True, f"Right: exactly b = {b} kept. PEFT thresholds at the b-th score "
                          "instead, so a tie there keeps fewer than b; an argsort never does.")


def _appendix_a_as_printed(t, T, b0, bT, t_i, t_f):
    """The AdaLoRA paper's Appendix A schedule read literally (a typo, we think: see notebook 06)."""
    if t < t_i:
        return b0
    if t < T - t_f:
        return int(bT + (b0 - bT) * (1 - (t - t_i - t_f) / (T - t_i - t_f)) ** 3)
    return bT


def check_cubic_budget(fn, T=100, b0=48, bT=12, t_i=10, t_f=20):
    if fn is None:
        return unanswered("three phases: warm-up, the cubic decay, the final fine-tuning.")
    expected = [budget_schedule(t, total_steps=T, init_budget=b0, target_budget=bT,
                                warmup_steps=t_i, final_steps=t_f) for t in range(T + 1)]
    gots = []
    for t in range(T + 1):
        got, error = _call(fn, t, T, b0, bT, t_i, t_f)
        if error is not None:
            return error
        gots.append(got)
    if gots != expected and gots == [_appendix_a_as_printed(t, T, b0, bT, t_i, t_f) for t in range(T + 1)]:
        return Feedback(False, "You wrote the paper's Appendix A as printed, with (t - t_i - t_f) in the "
                               f"cubic term: at t = {t_i} it gives more than b0 = {b0} "
                               f"({gots[t_i]}): the budget would jump up just when it should start to fall. "
                               "The authors' code and PEFT use (t - t_i), which falls from b0 to bT.")
    for t, (want, got) in enumerate(zip(expected, gots)):
        if got != want:
            phase = ("the warm-up (t <= t_i)" if t <= t_i else "the final phase (t > T - t_f)"
                     if t > T - t_f else "the cubic decay")
            return Feedback(False, f"At t = {t}, in {phase}, yours gives {got!r}; expected {want}. "
                                   "A budget is a whole number of triplets: truncate with int().")
    return Feedback(True, f"Right at every step 0..{T}: {b0} triplets while scores warm up, a "
                          f"cubic fall (fast early, gentle late) to {bT} at t = {T - t_f}, then fixed.")
