"""Rank, the SVD and the best rank-r approximation (Eckart-Young), in NumPy.

For a matrix W (d_out, d_in) with SVD  W = U diag(sigma) V^T  (sigma sorted, largest first):

    best_rank_r(W, r)           U_r diag(sigma_r) V_r^T: the closest rank-r matrix to W in the
                                Frobenius and in the spectral norm (Eckart-Young-Mirsky)
    tail_error(sigma, r)            that closest distance, read off the spectrum alone:
                                sqrt(sigma_{r+1}^2 + ... + sigma_n^2) (Frobenius) or sigma_{r+1} (spectral)
    LowRankApprox(W)            one SVD, then any rank r: approx(r), error(r), relative_error(r)
    numerical_rank(sigma)           how many singular values are above round-off
    entropy_effective_rank(sigma)   Roy & Vetterli (2007): exp of the entropy of sigma / sum(sigma)
    stable_rank(sigma)              ||W||_F^2 / ||W||_2^2 = sum(sigma^2) / sigma_1^2
    energy_rank(sigma, fraction)    smallest r that keeps `fraction` of sum(sigma^2)
    breakeven_rank(d_out, d_in)        the largest r for which (d_out + d_in) r < d_out d_in

How many numbers W_r = B A stores, (d_out + d_in) r against d_out d_in: `adalora_lite.counting`.

Conventions: a matrix is (d_out, d_in) = (rows, columns); spectra are 1-D arrays sorted descending, as
`np.linalg.svd` returns them. Bad input raises `ConfigError` naming the argument and its range.
"""
import numpy as np

from ..errors import ConfigError, check_int

__all__ = ["singular_values", "best_rank_r", "tail_error", "relative_tail_error",
           "LowRankApprox", "random_rank_r_error", "numerical_rank", "entropy_effective_rank",
           "stable_rank", "energy_rank", "breakeven_rank", "random_like"]


def _check_rank(r, n):
    """A rank of a matrix with n = min(d_out, d_in) singular values: an integer in [0, n]."""
    if isinstance(r, float) and r.is_integer():
        r = int(r)  # a slider or a division may hand over 4.0
    return check_int("r", r, low=0, high=n)


def _spectrum(sigma):
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim != 1:
        raise ConfigError(f"sigma must be a 1-D array of singular values, got shape {sigma.shape}")
    if np.any(sigma < 0) or np.any(np.diff(sigma) > 1e-12 * max(1.0, float(sigma[0]) if sigma.size else 1.0)):
        raise ConfigError("sigma must be non-negative and sorted in descending order")
    return sigma


def singular_values(W):
    """The singular values of W (d_out, d_in), largest first: min(d_out, d_in) of them."""
    return np.linalg.svd(np.asarray(W, dtype=np.float64), compute_uv=False)


def best_rank_r(W, r):
    """The best rank-r approximation of W: keep the r largest singular triplets."""
    return LowRankApprox(W).approx(r)


def tail_error(sigma, r, norm="fro"):
    """||W - W_r|| for the best rank-r W_r, from the singular values sigma of W alone.

    norm="fro": sqrt(sum_{i > r} sigma_i^2); norm=2 (spectral): sigma_{r+1}, or 0 when r = len(sigma).
    """
    sigma = _spectrum(sigma)
    r = _check_rank(r, len(sigma))
    if norm == "fro":
        return float(np.sqrt(np.sum(sigma[r:] ** 2)))
    if norm == 2:
        return float(sigma[r]) if r < len(sigma) else 0.0
    raise ConfigError(f"norm must be 'fro' or 2, got {norm!r}")


def relative_tail_error(sigma, r):
    """||W - W_r||_F / ||W||_F = sqrt(sum_{i>r} sigma_i^2 / sum_i sigma_i^2)."""
    sigma = _spectrum(sigma)
    total = np.sum(sigma ** 2)
    return float(np.sqrt(np.sum(sigma[_check_rank(r, len(sigma)):] ** 2) / total)) if total > 0 else 0.0


class LowRankApprox:
    """One SVD of W (d_out, d_in), then the best rank-r approximation for any r at the cost of a product.

    Attributes: U (d_out, n), sigma (n,), Vt (n, d_in) with n = min(d_out, d_in); shape (d_out, d_in).
    """

    def __init__(self, W):
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2:
            raise ConfigError(f"W must be a matrix (2-D), got shape {W.shape}")
        self.W = W
        self.shape = W.shape
        self.U, self.sigma, self.Vt = np.linalg.svd(W, full_matrices=False)
        self.n = len(self.sigma)

    def factors(self, r):
        """B (d_out, r) = U_r diag(sigma_r) and A (r, d_in) = V_r^T, so that B @ A is the rank-r approximation."""
        r = _check_rank(r, self.n)
        return self.U[:, :r] * self.sigma[:r], self.Vt[:r]

    def approx(self, r):
        """W_r (d_out, d_in), the closest rank-r matrix to W."""
        B, A = self.factors(r)
        return B @ A

    def error(self, r, norm="fro"):
        """||W - W_r|| measured on the matrices (not read off the spectrum)."""
        return float(np.linalg.norm(self.W - self.approx(r), "fro" if norm == "fro" else 2))

    def relative_error(self, r):
        """||W - W_r||_F / ||W||_F, measured on the matrices."""
        return self.error(r) / float(np.linalg.norm(self.W))

    def energy(self, r):
        """The fraction of ||W||_F^2 kept at rank r: sum_{i<=r} sigma_i^2 / sum_i sigma_i^2."""
        r = _check_rank(r, self.n)
        return float(np.sum(self.sigma[:r] ** 2) / np.sum(self.sigma ** 2))


def random_rank_r_error(W, r, rng=None):
    """||W - Q Q^T W||_F for a random r-dimensional column space Q (d_out, r): a rank-r
    approximation that ignores the SVD, to compare against Eckart-Young's optimum."""
    W = np.asarray(W, dtype=np.float64)
    r = _check_rank(r, min(W.shape))
    rng = np.random.default_rng(rng)
    Q, _ = np.linalg.qr(rng.standard_normal((W.shape[0], r)))
    return float(np.linalg.norm(W - Q @ (Q.T @ W)))


def numerical_rank(sigma, tol=None):
    """How many singular values exceed `tol` (default: NumPy's matrix_rank tolerance,
    sigma_1 * max(d_out, d_in) * machine epsilon, with max(d_out, d_in) taken as len(sigma) here unless given)."""
    sigma = _spectrum(sigma)
    if sigma.size == 0:
        return 0
    if tol is None:
        tol = sigma[0] * len(sigma) * np.finfo(np.float64).eps
    return int(np.sum(sigma > tol))


def entropy_effective_rank(sigma, *, tol=1e-12):
    """Roy & Vetterli (2007): erank = exp(H(p)) with p_i = sigma_i / sum_j sigma_j and H the Shannon entropy.

    Between 1 (a single non-zero singular value) and n (all equal); not an integer in general.
    Values below tol * sigma_1 (round-off around a low-rank matrix) count as zero; 0 for a zero matrix.
    """
    sigma = _spectrum(sigma)
    sigma = sigma[sigma > tol * max(float(sigma.max(initial=0.0)), 1e-300)]
    if sigma.size == 0:
        return 0.0
    p = sigma / sigma.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def stable_rank(sigma):
    """||W||_F^2 / ||W||_2^2 = sum_i sigma_i^2 / sigma_1^2: how many 'top-sized' directions the energy
    would fill. At most the rank; small when one direction dominates."""
    sigma = _spectrum(sigma)
    return float(np.sum(sigma ** 2) / sigma[0] ** 2) if sigma.size and sigma[0] > 0 else 0.0


def energy_rank(sigma, fraction=0.9):
    """The smallest r whose best rank-r approximation keeps `fraction` of sum(sigma^2), i.e. whose
    relative Frobenius error is at most sqrt(1 - fraction)."""
    sigma = _spectrum(sigma)
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction!r}")
    energy = np.cumsum(sigma ** 2)
    if energy[-1] == 0:
        return 0
    # A relative slack absorbs round-off: fraction=1 must give the rank, not overflow.
    return int(np.searchsorted(energy, fraction * energy[-1] * (1 - 1e-12)) + 1)


def breakeven_rank(d_out, d_in):
    """The largest r with (d_out + d_in) r < d_out d_in: above it the factorization stores more than W itself."""
    d_out, d_in = int(d_out), int(d_in)
    return (d_out * d_in - 1) // (d_out + d_in)


def random_like(W, rng=None):
    """A Gaussian matrix with W's shape, mean and standard deviation (entries i.i.d.)."""
    W = np.asarray(W, dtype=np.float64)
    rng = np.random.default_rng(rng)
    return rng.normal(W.mean(), W.std(), size=W.shape)
