"""The orthogonality regularizer R(P, Q) = ||P^T P - I||_F^2 + ||Q Q^T - I||_F^2.

It keeps P's columns and Q's rows orthonormal, so that lambda behaves like the singular values of
the update and masking a lambda removes exactly one direction. The paper writes the squared norms
(used here); PEFT's code uses the unsquared norms. Both are zero at the same place; the squared
form has a gradient that vanishes smoothly there instead of a kink.

Written once for NumPy and torch (both spell `eye(n, dtype=, device=)`, `.T`, `@`, `.sum()` alike).
"""
from .scoring import namespace


def orthogonality_penalty(P, Q):
    """R(P, Q) for one layer: P (d_out, r), Q (r, d_in). A 0-d array or tensor."""
    xp = namespace(P)
    eye = xp.eye(P.shape[1], dtype=P.dtype, device=P.device)
    return ((P.T @ P - eye) ** 2).sum() + ((Q @ Q.T - eye) ** 2).sum()


def orthogonality_grad(P, Q):
    """(dR/dP, dR/dQ): 4 P (P^T P - I) and 4 (Q Q^T - I) Q. The NumPy path needs it by hand."""
    xp = namespace(P)
    eye = xp.eye(P.shape[1], dtype=P.dtype, device=P.device)
    return 4 * P @ (P.T @ P - eye), 4 * (Q @ Q.T - eye) @ Q
