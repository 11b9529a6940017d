"""Checkers for notebook 03's "try it" exercises (LoRA from scratch).

Each checker takes the student's answer (None while unanswered) and returns a Feedback (the same
type as notebook 01's checkers): truthy when right, and its text says why, or what to look at again.

    check_lora_param_count(answer, d_out, d_in, r)   trainable numbers LoRA adds to one layer
    check_alpha_for_rank(answer, alpha, r_old, r_new)  the alpha a LoRA layer needs at r_new to
                                                       follow rsLoRA's 1/sqrt(r) rule
    check_swapped_weight(answer, W, old, new, scale)   W' = W - scale B A + scale B' A' (scale = alpha/r) on a merged layer
"""
import math

import numpy as np

from ..counting import parameter_count
from .feedback import Feedback, agrees, as_number, not_a_number, unanswered


def check_lora_param_count(answer, d_out=1536, d_in=384, r=8):
    """How many trainable numbers LoRA with rank r adds to a (d_out, d_in) linear layer."""
    if answer is None:
        return unanswered("count the entries of B (d_out x r) and of A (r x d_in).")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    expected, full = parameter_count(d_out, d_in, r), parameter_count(d_out, d_in, kind="full")
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


def rslora_alpha(alpha=16, r_old=8, r_new=16):
    """The alpha a LoRA layer (scale alpha/r) needs at rank r_new so that the factor in front of
    B A follows rsLoRA's rule (factor proportional to 1/sqrt(r)) from alpha at rank r_old."""
    return alpha * math.sqrt(r_new / r_old)


def check_alpha_for_rank(answer, alpha=16, r_old=8, r_new=16):
    """You tuned the learning rate with Adam at rank r_old, LoRA's scale alpha/r. You move to r_new
    and follow rsLoRA's rule (Kalajdzievski, 2023): the factor in front of B A should shrink like
    1/sqrt(r), because the update grows about like sqrt(r) (notebook 03, section 6: without any
    division, the breakdown learning rate halves per fourfold r). Which alpha must the LoRA layer,
    which still divides by r, get at r_new? Right: alpha sqrt(r_new / r_old), rounded answers too."""
    if answer is None:
        return unanswered(f"the factor at r = {r_old} is alpha/r = {alpha / r_old:g}; rsLoRA's rule "
                          f"divides it by sqrt({r_new}/{r_old}) at r = {r_new}. Which alpha gives "
                          f"that factor once the layer divides by {r_new}?")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    if value <= 0:
        return Feedback(False, "alpha must be positive: it multiplies the whole update.")
    right = rslora_alpha(alpha, r_old, r_new)
    ratio = r_new / r_old
    factor = alpha / r_old / math.sqrt(ratio)
    if agrees(value, right):
        return Feedback(True, f"Right: alpha = {alpha:g} x sqrt({r_new}/{r_old}) = {right:.4g}. The "
                              f"factor goes from {alpha / r_old:.4g} to {right / r_new:.4g} = "
                              f"{alpha / r_old:.4g} / sqrt({ratio:g}), which is rsLoRA's alpha/sqrt(r) "
                              f"with its alpha = {alpha / r_old * math.sqrt(r_old):.4g}. LoRA's own rule "
                              f"(keep alpha = {alpha:g}) would shrink the factor by {ratio:g}, not "
                              f"sqrt({ratio:g}). Our sweep measured the truth in between: on its "
                              "factor-2 grid the breakdown stayed put with alpha/r, and moved once with "
                              "alpha/sqrt(r).")
    if agrees(value, alpha):
        return Feedback(False, f"alpha = {value:g} is LoRA's rule: the layer divides by r, so the "
                               f"factor falls {ratio:g}x, from {alpha / r_old:.4g} to "
                               f"{alpha / r_new:.4g}. rsLoRA's rule lets it fall only by sqrt({ratio:g}).")
    if agrees(value, alpha * ratio):
        return Feedback(False, f"alpha = {value:g} keeps alpha/r at {alpha / r_old:.4g}: no compensation "
                               "at all, as if the update did not grow with r. The sweep's no-division "
                               "panel shows it does.")
    if agrees(value, alpha / math.sqrt(ratio)) or agrees(value, alpha / ratio):
        return Feedback(False, f"alpha = {value:g} shrinks the factor more than LoRA's rule does; "
                               "rsLoRA's rule shrinks it less.")
    if agrees(value, factor):
        return Feedback(False, f"{value:.4g} is the factor itself (alpha/r at r = {r_new} under rsLoRA's "
                               f"rule). The layer divides by r = {r_new}: which alpha gives that factor?")
    return Feedback(False, f"Not quite (alpha = {value:g}). Start from the factor alpha/r = "
                           f"{alpha / r_old:g} at r = {r_old}, divide it by sqrt({r_new}/{r_old}), then "
                           f"multiply by {r_new}.")


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
