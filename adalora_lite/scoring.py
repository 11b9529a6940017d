"""Importance of triplets: the paper's equations (7)-(11), one function each, the four score kinds
of the allocator (SCORE_FUNCTIONS) and top-b masking.

Written once for NumPy arrays and torch tensors alike: every function only uses operators and
functions that both libraries spell the same way (`abs`, `*`, `+`, `multiply`, `argsort`, ...);
one exception, for speed, in `triplet_scores`.

Shapes: the allocator keeps everything *flat*, all adapted layers concatenated, so one call scores
every triplet of the model at once instead of looping over layers in Python.

Names, as the paper's: I = sensitivity (eq. (8)), ibar = its EMA Ibar (eq. (9)), ubar = the EMA of
its uncertainty Ubar (eq. (10)), s = ibar * ubar (eq. (11)), S_i = the triplet score (eq. (7)).
Per-layer arguments come in the order of the factors of Delta = P Lambda Q (eq. (3)): P, lam, Q.
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


def smooth(ibar, ubar, i_now, *, beta1, beta2):
    """One step of the two EMAs of the paper's eq. (9) and (10); returns the new (ibar, ubar).

    Ubar uses the *already updated* Ibar, as the paper and PEFT do. Both start at zero and are
    never bias-corrected (also as PEFT).
    """
    ibar = beta1 * ibar + (1 - beta1) * i_now
    ubar = beta2 * ubar + (1 - beta2) * abs(i_now - ibar)
    return ibar, ubar


def smooth_in_place(ibar, ubar, i_now, scratch, *, beta1, beta2):
    """`smooth` written into ibar and ubar, with i_now and scratch as workspace (both overwritten).

    The same operations in the same order as `smooth`, so the same numbers bit for bit (tested);
    ours, for the allocator's hot path, where a new array per operation cost more than the
    arithmetic.
    """
    xp = namespace(ibar)
    ibar *= beta1
    ibar += xp.multiply(i_now, 1 - beta1, out=scratch)       # beta1 * ibar + (1 - beta1) * i_now
    spread = xp.abs(xp.subtract(i_now, ibar, out=i_now), out=i_now)  # |I - Ibar|, the new Ibar
    ubar *= beta2
    ubar += xp.multiply(spread, 1 - beta2, out=scratch)      # beta2 * ubar + (1 - beta2) * |...|


def entry_score(ibar, ubar):
    """s(w) = Ibar(w) * Ubar(w) (the paper's eq. (11)): smoothed sensitivity times its uncertainty."""
    return ibar * ubar


def layer_triplet_scores(s_P, s_lam, s_Q):
    """The paper's eq. (7), the definition, for one layer: S_i = s(lambda_i) + mean_j s(P_ji) + mean_j s(Q_ij).

    s_P (d_out, r), s_lam (r,), s_Q (r, d_in): the entry scores s(w) of P, lambda and Q.
    Returns S (r,). `triplet_scores` computes the same for every layer at once (tested against this).
    """
    return s_lam + s_P.mean(axis=0) + s_Q.mean(axis=1)


def triplet_scores(entry_scores, triplet_of, weight_of, n_triplets):
    """`layer_triplet_scores` for every triplet of every layer at once: the fast path, one weighted
    sum per triplet (a bincount).

    entry_scores: (n,) s(w) of every adapter entry, flattened and concatenated
    triplet_of:   (n,) int, which global triplet each entry belongs to
    weight_of:    (n,) 1 for lambda entries, 1/d_out for P entries, 1/d_in for Q entries,
                  so a weighted sum per triplet is exactly the two means plus s(lambda)
    """
    weighted = entry_scores * weight_of
    if is_torch(weighted):  # the same sums in the same order as bincount, measured 1.5x faster
        return weighted.new_zeros(n_triplets).scatter_add_(0, triplet_of, weighted)
    return np.bincount(triplet_of, weights=weighted, minlength=n_triplets)


# ------------------------------------------------------- the score kinds S_i (paper's Table 4)
# Each takes an ImportanceTracker (adalora_lite.tracking) and the allocator's seed (only the random
# control uses it) and returns S (n_triplets,), layers in order. The allocator calls
# SCORE_FUNCTIONS[score]; the first is AdaLoRA's.

def importance_scores(tracker, seed=None):
    """eq. (7) with s(w) = Ibar(w) * Ubar(w), eq. (11): the paper, the authors' code, PEFT."""
    index = tracker.flat_index()  # first: it makes the EMAs (zeros) on first use
    return triplet_scores(entry_score(tracker.ibar, tracker.ubar), *index)


def sensitivity_scores(tracker, seed=None):
    """eq. (7) with s(w) = Ibar(w): the smoothed sensitivity alone (Table 4, "s = I")."""
    index = tracker.flat_index()
    return triplet_scores(tracker.ibar, *index)


def magnitude_scores(tracker, seed=None):
    """S_i = |lambda_i| (Table 4): the SVD form only."""
    return abs(tracker.concat_factor("lam"))


def random_scores(tracker, seed=None):
    """A seeded random score per triplet, the same at every call: which triplets survive is
    chance, and the masks stay nested as budgets shrink (our control, not in the paper)."""
    triplet_of, weight_of, n = tracker.flat_index()
    return as_like(np.random.default_rng(seed).random(n), weight_of)


SCORE_FUNCTIONS = {"importance": importance_scores, "sensitivity": sensitivity_scores,
          "magnitude": magnitude_scores, "random": random_scores}


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
