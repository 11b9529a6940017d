"""Reference solutions of the "write it yourself" exercises: AdaLoRA's scoring in a few NumPy lines.

Read these only after trying (notebooks 05 and 06 ask for them). Each is the textbook form of one
formula of the paper, one layer at a time; the library computes the same numbers for every layer
at once (`adalora_lite.scoring`, `adalora_lite.schedule`), and `adalora_lite.exercises.write_it`
checks a student's version against it. Notebook 03's LoRA layer, a torch module, is in
solutions_torch.py: apart, so that these load without torch (notebooks 01 and 04-06 never need it).
"""
import numpy as np


def sensitivity(w, grad):
    """I(w) = |w * dL/dw| (the paper's eq. 8): the loss change if w were set to zero, to first order."""
    return np.abs(w * grad)


def smooth(ibar, ubar, i_now, beta1, beta2):
    """One step of the paper's eq. (9) and (10): Ibar keeps beta1 of its past, Ubar tracks |I - Ibar|."""
    ibar = beta1 * ibar + (1 - beta1) * i_now
    ubar = beta2 * ubar + (1 - beta2) * np.abs(i_now - ibar)  # the Ibar just updated
    return ibar, ubar


def triplet_score(s_P, s_lam, s_Q):
    """S_i = s(lambda_i) + mean_j s(P_ji) + mean_j s(Q_ij) (the paper's eq. 7), one layer.

    s_P: (d_out, r), column i belongs to triplet i  s_lam: (r,)  s_Q: (r, d_in), row i
    (the arguments in the order of Delta = P Lambda Q, as adalora_lite.scoring)
    """
    return s_lam + s_P.mean(axis=0) + s_Q.mean(axis=1)


def top_b_mask(scores, b):
    """Keep exactly the b highest scores (ties: the lower index wins); True = kept."""
    keep = np.zeros(len(scores), dtype=bool)
    keep[np.argsort(-scores, kind="stable")[:b]] = True
    return keep


def cubic_budget(t, T, b0, bT, t_i, t_f):
    """b(t) of the cubic budget schedule (§3.3) in the form the authors' code and PEFT run: b0 for
    the t_i warm-up steps, then bT + (b0 - bT) (1 - (t - t_i) / (T - t_i - t_f))^3, reaching bT at
    t = T - t_f and kept to the end. int() truncates, as the authors' code and PEFT do (the paper
    writes no rounding). The paper's Appendix A prints (t - t_i - t_f) where the code has (t - t_i),
    which reads like a typo (see adalora_lite.schedule)."""
    if t <= t_i:
        return b0
    if t > T - t_f:
        return bT
    return int(bT + (b0 - bT) * (1 - (t - t_i) / (T - t_i - t_f)) ** 3)


# -- notebooks 01-03 (checked by adalora_lite.exercises.build) ----------------------------------

def truncate(W, r):
    """W_r = U[:, :r] diag(sigma[:r]) V^T[:r], the best rank-r approximation (notebook 01)."""
    U, sigma, Vt = np.linalg.svd(W, full_matrices=False)
    return (U[:, :r] * sigma[:r]) @ Vt[:r]  # (d_out, r) (r,) (r, d_in)


def subspace_params(theta0, E, z):
    """theta = theta0 + E z (notebook 02): theta0 (D,), E (D, d), z (d,). NumPy or torch."""
    return theta0 + E @ z


def orthogonality_grad(P, Q):
    """(dR/dP, dR/dQ) of R = ||P^T P - I||_F^2 + ||Q Q^T - I||_F^2 (notebook 04): 4 P (P^T P - I)
    and 4 (Q Q^T - I) Q. P (d_out, r), Q (r, d_in)."""
    eye = np.eye(P.shape[1])  # (r, r)
    return 4 * P @ (P.T @ P - eye), 4 * (Q @ Q.T - eye) @ Q
