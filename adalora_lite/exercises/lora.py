"""Checkers for notebook 03's "try it" exercises (LoRA from scratch).

Each checker takes the student's answer (None while unanswered) and returns a Feedback (the same
type as notebook 01's checkers): truthy when right, and its text says why, or what to look at again.

    check_lora_param_count(answer, d_out, d_in, r)   trainable numbers LoRA adds to one layer
    check_alpha_for_rank(answer, alpha, r_old, r_new)  the alpha that keeps a tuned lr working
    check_swapped_weight(answer, W, old, new, scale)   W' = W - s B A + s B' A' on a merged layer
"""
import math

import numpy as np

from .feedback import Feedback, as_number, not_a_number, unanswered






def check_lora_param_count(answer, d_out=1536, d_in=384, r=8):
    """How many trainable numbers LoRA with rank r adds to a (d_out, d_in) linear layer."""
    if answer is None:
        return unanswered("count the entries of B (d_out x r) and of A (r x d_in).")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    expected, full = (d_out + d_in) * r, d_out * d_in
    if value == expected:
        return Feedback(True, f"Right: B has {d_out} x {r} and A has {r} x {d_in} entries, "
                              f"({d_out} + {d_in}) x {r} = {expected:,} in all, "
                              f"{expected / full:.2%} of the layer's {full:,} weights.")
    known = {
        full: "That is the size of W0 itself: what full fine-tuning trains. LoRA trains only B and A.",
        full + d_out: "That is W0 and its bias: full fine-tuning. LoRA trains only B and A.",
        d_out * r: "That is B alone (d_out x r). A (r x d_in) is trained too.",
        d_in * r: "That is A alone (r x d_in). B (d_out x r) is trained too.",
        expected + d_out: "Close, but LoRA leaves the bias frozen: count B and A only.",
        d_out * d_in * r: "That would be r full copies of W0. B A has rank r but is stored as two "
                          "thin factors.",
        r * r: "That is the r x r size of the bottleneck; B and A are d_out x r and r x d_in.",
    }
    hint = known.get(value, f"Not quite ({value:g}). B is d_out x r, A is r x d_in.")
    return Feedback(False, hint)


def check_alpha_for_rank(answer, alpha=16, r_old=8, r_new=32):
    """With Adam, you tuned the learning rate at rank r_old with this alpha. Which alpha at rank
    r_new keeps that learning rate working? (LoRA's answer: the same alpha.)"""
    if answer is None:
        return unanswered("Adam moves every entry of B by about lr per step, so B A grows with r. "
                          "Which factor in alpha/r already takes care of that?")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    if value <= 0:
        return Feedback(False, "alpha must be positive: it multiplies the whole update.")
    if math.isclose(value, alpha):
        return Feedback(True, f"Right: keep alpha = {alpha:g}. The division by r does the work: the "
                              f"factor drops from {alpha / r_old:g} to {alpha / r_new:g} while B A, "
                              f"the sum of {r_new} instead of {r_old} Adam-sized rank-one pieces, "
                              f"grows about {r_new / r_old:g} times. The update per step stays the "
                              "same size.")
    ratio = r_new / r_old
    if math.isclose(value, alpha * ratio):
        return Feedback(False, f"alpha = {value:g} keeps alpha/r fixed at {alpha / r_old:g}, but B A "
                               f"itself grows about {ratio:g}x with {r_new} ranks under Adam: the "
                               f"update would be about {ratio:g}x larger, as if the lr were. Look at "
                               "the red curve of the scale widget.")
    if math.isclose(value, alpha / ratio):
        return Feedback(False, f"alpha = {value:g} shrinks the update about {ratio:g}x on top of "
                               "what dividing by r already does: it would train like a smaller lr.")
    return Feedback(False, f"Not quite (alpha = {value:g}). With alpha/r the one-step loss decrease "
                           "in the scale widget is flat in r: what does that say about alpha?")


def check_swapped_weight(answer, W, old, new, scale):
    """W is a merged weight W0 + scale B A; old = (A, B), new = (A', B'). The answer must be
    W0 + scale B' A', computed from W without W0."""
    if answer is None:
        return unanswered("subtract what the old adapter added, then add what the new one adds; "
                          "remember the scale.")
    W = _to_numpy(W)
    (A1, B1), (A2, B2) = [tuple(_to_numpy(m) for m in pair) for pair in (old, new)]
    try:
        value = np.asarray(_to_numpy(answer), dtype=float)
    except (TypeError, ValueError):
        return Feedback(False, f"Your answer is a {type(answer).__name__}: give an array the shape "
                               f"of W, {W.shape}.")
    if value.shape != W.shape:
        return Feedback(False, f"Your answer has shape {value.shape}; W' must have W's shape {W.shape}.")
    expected = W - scale * B1 @ A1 + scale * B2 @ A2
    tol = 1e-6 * max(1.0, float(np.abs(expected).max()))

    def close(x):
        return bool(np.abs(value - x).max() <= tol)

    if close(expected):
        return Feedback(True, "Right: W' = W - (alpha/r) B A + (alpha/r) B' A'. Two rank-r products, "
                              "no copy of W0, and the layer is again a single matmul.")
    if close(W - scale * B1 @ A1):
        return Feedback(False, "That is W0: you removed the old adapter but did not add the new one.")
    if close(W - B1 @ A1 + B2 @ A2):
        return Feedback(False, "You forgot the scale alpha/r: the merged update is (alpha/r) B A, "
                               "not B A.")
    if close(W + scale * B2 @ A2):
        return Feedback(False, "You added the new adapter on top of the old one: subtract "
                               "(alpha/r) B A first.")
    if W.shape[0] == W.shape[1] and close(W - scale * A1.T @ B1.T + scale * A2.T @ B2.T):
        return Feedback(False, "Check the order of the factors: B (d_out x r) comes first, B @ A.")
    return Feedback(False, "Not quite: W' should equal W0 + (alpha/r) B' A'. Build it from W, "
                           "the old factors and the new ones.")


def _to_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
