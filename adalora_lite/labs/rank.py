"""Rank, the SVD and the best rank-r approximation (Eckart-Young), in NumPy.

For a matrix W (d, k) with SVD  W = U diag(s) V^T  (s sorted, largest first):

    best_rank_r(W, r)           U_r diag(s_r) V_r^T: the closest rank-r matrix to W in the
                                Frobenius and in the spectral norm (Eckart-Young-Mirsky)
    tail_error(s, r)            that closest distance, read off the spectrum alone:
                                sqrt(s_{r+1}^2 + ... + s_n^2) (Frobenius) or s_{r+1} (spectral)
    LowRankApprox(W)            one SVD, then any rank r: approx(r), error(r), relative_error(r)
    numerical_rank(s)           how many singular values are above round-off
    entropy_effective_rank(s)   Roy & Vetterli (2007): exp of the entropy of s / sum(s)
    stable_rank(s)              ||W||_F^2 / ||W||_2^2 = sum(s^2) / s_1^2
    energy_rank(s, fraction)    smallest r that keeps `fraction` of sum(s^2)
    lowrank_param_count(d,k,r)  (d + k) r: the numbers in B (d, r) and A (r, k), W_r = B A
    adapter_param_count(d_out, d_in, r, adapter)   the same for a LoRA doublet B A, and
                                (d_out + d_in + 1) r for an SVD triplet P diag(lam) Q
    full_param_count(d, k)      d k
    breakeven_rank(d, k)        the largest r for which (d + k) r < d k

Conventions: a matrix is (d, k) = (rows, columns); spectra are 1-D arrays sorted descending, as
`np.linalg.svd` returns them.
"""
import numpy as np

__all__ = ["singular_values", "best_rank_r", "tail_error", "relative_tail_error",
           "LowRankApprox", "random_rank_r_error", "numerical_rank", "entropy_effective_rank",
           "stable_rank", "energy_rank", "lowrank_param_count", "adapter_param_count", "full_param_count",
           "breakeven_rank", "random_like"]


def _check_rank(r, n):
    if int(r) != r or r < 0:
        raise ValueError(f"rank r must be a non-negative integer, got {r!r}")
    if r > n:
        raise ValueError(f"rank r={r} exceeds min(d, k)={n}")
    return int(r)


def _spectrum(s):
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"expected a 1-D array of singular values, got shape {s.shape}")
    if np.any(s < 0) or np.any(np.diff(s) > 1e-12 * max(1.0, float(s[0]) if s.size else 1.0)):
        raise ValueError("singular values must be non-negative and sorted in descending order")
    return s


def singular_values(W):
    """The singular values of W (d, k), largest first: min(d, k) of them."""
    return np.linalg.svd(np.asarray(W, dtype=np.float64), compute_uv=False)


def best_rank_r(W, r):
    """The best rank-r approximation of W: keep the r largest singular triplets."""
    return LowRankApprox(W).approx(r)


def tail_error(s, r, norm="fro"):
    """||W - W_r|| for the best rank-r W_r, from the singular values s of W alone.

    norm="fro": sqrt(sum_{i > r} s_i^2); norm=2 (spectral): s_{r+1}, or 0 when r = len(s).
    """
    s = _spectrum(s)
    r = _check_rank(r, len(s))
    if norm == "fro":
        return float(np.sqrt(np.sum(s[r:] ** 2)))
    if norm == 2:
        return float(s[r]) if r < len(s) else 0.0
    raise ValueError(f"norm must be 'fro' or 2, got {norm!r}")


def relative_tail_error(s, r):
    """||W - W_r||_F / ||W||_F = sqrt(sum_{i>r} s_i^2 / sum_i s_i^2)."""
    s = _spectrum(s)
    total = np.sum(s ** 2)
    return float(np.sqrt(np.sum(s[_check_rank(r, len(s)):] ** 2) / total)) if total > 0 else 0.0


class LowRankApprox:
    """One SVD of W (d, k), then the best rank-r approximation for any r at the cost of a product.

    Attributes: U (d, n), s (n,), Vt (n, k) with n = min(d, k); shape (d, k).
    """

    def __init__(self, W):
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2:
            raise ValueError(f"expected a matrix, got shape {W.shape}")
        self.W = W
        self.shape = W.shape
        self.U, self.s, self.Vt = np.linalg.svd(W, full_matrices=False)
        self.n = len(self.s)

    def factors(self, r):
        """B (d, r) = U_r diag(s_r) and A (r, k) = V_r^T, so that B @ A is the rank-r approximation."""
        r = _check_rank(r, self.n)
        return self.U[:, :r] * self.s[:r], self.Vt[:r]

    def approx(self, r):
        """W_r (d, k), the closest rank-r matrix to W."""
        B, A = self.factors(r)
        return B @ A

    def error(self, r, norm="fro"):
        """||W - W_r|| measured on the matrices (not read off the spectrum)."""
        return float(np.linalg.norm(self.W - self.approx(r), "fro" if norm == "fro" else 2))

    def relative_error(self, r):
        """||W - W_r||_F / ||W||_F, measured on the matrices."""
        return self.error(r) / float(np.linalg.norm(self.W))

    def energy(self, r):
        """The fraction of ||W||_F^2 kept at rank r: sum_{i<=r} s_i^2 / sum_i s_i^2."""
        r = _check_rank(r, self.n)
        return float(np.sum(self.s[:r] ** 2) / np.sum(self.s ** 2))

    def param_count(self, r):
        """(d + k) r, the numbers stored in B and A."""
        return lowrank_param_count(*self.shape, r)


def random_rank_r_error(W, r, rng=None):
    """||W - Q Q^T W||_F for a random r-dimensional column space Q (d, r): a rank-r
    approximation that ignores the SVD, to compare against Eckart-Young's optimum."""
    W = np.asarray(W, dtype=np.float64)
    r = _check_rank(r, min(W.shape))
    rng = np.random.default_rng(rng)
    Q, _ = np.linalg.qr(rng.standard_normal((W.shape[0], r)))
    return float(np.linalg.norm(W - Q @ (Q.T @ W)))


def numerical_rank(s, tol=None):
    """How many singular values exceed `tol` (default: NumPy's matrix_rank tolerance,
    s_1 * max(d, k) * machine epsilon, with max(d, k) taken as len(s) here unless given)."""
    s = _spectrum(s)
    if s.size == 0:
        return 0
    if tol is None:
        tol = s[0] * len(s) * np.finfo(np.float64).eps
    return int(np.sum(s > tol))


def entropy_effective_rank(s, *, tol=1e-12):
    """Roy & Vetterli (2007): erank = exp(H(p)) with p_i = s_i / sum_j s_j and H the Shannon entropy.

    Between 1 (a single non-zero singular value) and n (all equal); not an integer in general.
    Values below tol * s_1 (round-off around a low-rank matrix) count as zero; 0 for a zero matrix.
    """
    s = _spectrum(s)
    s = s[s > tol * max(float(s.max(initial=0.0)), 1e-300)]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def stable_rank(s):
    """||W||_F^2 / ||W||_2^2 = sum_i s_i^2 / s_1^2: how many 'top-sized' directions the energy
    would fill. At most the rank; small when one direction dominates."""
    s = _spectrum(s)
    return float(np.sum(s ** 2) / s[0] ** 2) if s.size and s[0] > 0 else 0.0


def energy_rank(s, fraction=0.9):
    """The smallest r whose best rank-r approximation keeps `fraction` of sum(s^2), i.e. whose
    relative Frobenius error is at most sqrt(1 - fraction)."""
    s = _spectrum(s)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    energy = np.cumsum(s ** 2)
    if energy[-1] == 0:
        return 0
    # A relative slack absorbs round-off: fraction=1 must give the rank, not overflow.
    return int(np.searchsorted(energy, fraction * energy[-1] * (1 - 1e-12)) + 1)


def lowrank_param_count(d, k, r):
    """(d + k) r: B (d, r) plus A (r, k)."""
    return (int(d) + int(k)) * int(r)


def adapter_param_count(d_out, d_in, r, adapter="lora"):
    """Trainable numbers of one adapter of rank r: LoRA's B (d_out, r) and A (r, d_in), that is
    (d_out + d_in) r; an SVD adapter's P (d_out, r), lam (r,) and Q (r, d_in), (d_out + d_in + 1) r."""
    if adapter not in ("lora", "svd"):
        raise ValueError(f"adapter must be 'lora' or 'svd', got {adapter!r}")
    return lowrank_param_count(d_out, d_in, r) + (int(r) if adapter == "svd" else 0)


def full_param_count(d, k):
    """d k: every entry of W (d, k)."""
    return int(d) * int(k)


def breakeven_rank(d, k):
    """The largest r with (d + k) r < d k: above it the factorization stores more than W itself."""
    d, k = int(d), int(k)
    return (d * k - 1) // (d + k)


def random_like(W, rng=None):
    """A Gaussian matrix with W's shape, mean and standard deviation (entries i.i.d.)."""
    W = np.asarray(W, dtype=np.float64)
    rng = np.random.default_rng(rng)
    return rng.normal(W.mean(), W.std(), size=W.shape)
