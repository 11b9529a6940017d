"""Importance of triplets: sensitivity, its EMA (beta1), its uncertainty (beta2), top-b masking.

Written once for NumPy arrays and torch tensors alike: every function only uses operators and
functions that both libraries spell the same way (`abs`, `*`, `+`, `concat`, `bincount`, `argsort`).

Shapes: the allocator keeps everything *flat*, all adapted layers concatenated, so one call scores
every triplet of the model at once instead of looping over layers in Python.
"""
import sys

import numpy as np


def is_torch(x):
    """True for a torch tensor or module (an `adalora_lite.nn` adapter); never imports torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, (torch.Tensor, torch.nn.Module))


def namespace(x):
    """The array library `x` belongs to: torch for tensors and modules, numpy for anything else."""
    return sys.modules["torch"] if is_torch(x) else np


def sensitivity(weight, grad):
    """I(w) = |w * dL/dw| (the paper's eq. (8)): the first-order estimate of the loss change if w
    were set to 0."""
    return abs(weight * grad)


def smooth(ema, uncertainty, sensitivity_now, *, beta1, beta2):
    """One step of the two EMAs of the paper's eq. (9) and (10); returns the new pair.

    The uncertainty uses the *already updated* EMA, as the paper and PEFT do. Both start at zero
    and are never bias-corrected (also as PEFT).
    """
    ema = beta1 * ema + (1 - beta1) * sensitivity_now
    uncertainty = beta2 * uncertainty + (1 - beta2) * abs(sensitivity_now - ema)
    return ema, uncertainty


def entry_score(ema, uncertainty):
    """s(w) = Ibar(w) * Ubar(w) (the paper's eq. (11)): smoothed sensitivity times its uncertainty."""
    return ema * uncertainty


def layer_triplet_scores(s_P, s_lam, s_Q):
    """The paper's eq. (7), the definition, for one layer: S_i = s(lambda_i) + mean_j s(P_ji) + mean_j s(Q_ij).

    s_P (d_out, r), s_lam (r,), s_Q (r, d_in): the entry scores s(w) of P, lambda and Q.
    Returns S (r,). `triplet_scores` computes the same for every layer at once (tested against this).
    """
    return s_lam + s_P.mean(axis=0) + s_Q.mean(axis=1)


def triplet_scores(entry_scores, triplet_of, weight_of, n_triplets):
    """`layer_triplet_scores` for every triplet of every layer at once: the fast path, one bincount.

    entry_scores: (n,) s(w) of every adapter entry, flattened and concatenated
    triplet_of:   (n,) int, which global triplet each entry belongs to
    weight_of:    (n,) 1 for lambda entries, 1/d_out for P entries, 1/d_in for Q entries,
                  so a weighted sum per triplet is exactly the two means plus s(lambda)
    """
    xp = namespace(entry_scores)
    return xp.bincount(triplet_of, weights=entry_scores * weight_of, minlength=n_triplets)


def top_b_mask(scores, budget):
    """Boolean keep-mask of the `budget` highest scores; ties broken towards the lower index.

    PEFT thresholds at the k-th value instead, so ties at the threshold mask *more* than asked
    (and a budget equal to the total crashes it); here exactly `budget` triplets survive.
    """
    xp = namespace(scores)
    order = xp.argsort(-scores, stable=True)
    keep = xp.zeros_like(scores, dtype=bool)
    keep[order[:budget]] = True
    return keep


def as_like(values, like, *, dtype=None):
    """NumPy `values` as an array of `like`'s library (and device); `dtype` defaults to like's."""
    if isinstance(like, np.ndarray):
        return np.asarray(values, dtype=dtype or like.dtype)
    return namespace(like).as_tensor(values, dtype=dtype or like.dtype, device=like.device)
