"""Checkers for notebook 08's "try it" exercises (data-aware init, reading Delta W).

Each checker takes the student's answer (None while unanswered) and returns a Feedback: truthy
when right, and its text says why, or what to look at again.

    check_energy_rank(sigma, answer)           fewest singular values holding 90% of ||Delta W||_F^2
                                               (one checker for 02 and 08, in exercises/rank.py)
    check_pissa_b_norm(sigma, r, scale, answer)  ||B||_F^2 after PiSSA's init, from W0's singular values
    check_amplification(delta, W0, r, answer)  the LoRA paper's ||Delta W||_F / ||U^T W0 V||_F
"""
import math

import numpy as np

from ..labs.learned_update import amplification
from .feedback import Feedback, agrees, as_number as _as_number, not_a_number, unanswered
from .rank import check_energy_rank  # noqa: F401 (exercise 1 of notebook 08)


def check_pissa_b_norm(sigma, r, scale, answer, *, rel_tol=1e-3):
    """PiSSA sets B = U_r sqrt(Sigma_r / scale) (U_r orthonormal), so ||B||_F^2 = sum(sigma_1..r) / scale."""
    if answer is None:
        return unanswered("B = U_r diag(sqrt(sigma_i / scale)) with orthonormal columns in U_r, scale = "
                          "alpha / r: each column of B has squared norm sigma_i / scale.")
    value = _as_number(answer)
    if value is None:
        return not_a_number(answer)
    top = np.sort(np.asarray(sigma, float))[::-1][:r]
    expected = float(top.sum() / scale)
    if agrees(value, expected, rel_tol=rel_tol):
        return Feedback(True, f"Right: ||B||_F^2 = (sigma_1 + ... + sigma_{r}) / scale = {expected:.4g}. "
                              "scale B A = U_r Sigma_r V_r^T, split evenly between B and A.")
    for wrong, why in ((float((top ** 2).sum() / scale), "that sums sigma_i^2: B holds sqrt(sigma_i), "
                        "so its squared norm sums sigma_i"),
                       (float(top.sum()), "you forgot the scale alpha / r: (alpha / r) B A must equal "
                        "U_r Sigma_r V_r^T, so B A = U_r Sigma_r V_r^T / scale"),
                       (float(math.sqrt(top.sum() / scale)), "that is ||B||_F, not its square")):
        if math.isclose(value, wrong, rel_tol=rel_tol):
            return Feedback(False, f"{value:.4g}: {why}.")
    return Feedback(False, f"{value:.4g} is not it: each column j of B is u_j sqrt(sigma_j / scale) with "
                           "||u_j|| = 1.")


def check_amplification(delta, W0, r, answer, *, rel_tol=1e-2):
    """||Delta W||_F / ||U^T W0 V||_F with U, V the top-r singular vectors of Delta W."""
    if answer is None:
        return unanswered("take the SVD of Delta W (not of W0), keep r left and right vectors, project W0 "
                          "on them (U^T W0 V is r x r) and divide the two Frobenius norms.")
    value = _as_number(answer)
    if value is None:
        return not_a_number(answer)
    expected = amplification(delta, W0, r)
    if agrees(value, expected, rel_tol=rel_tol):
        return Feedback(True, f"Right: {expected:.3g}. A factor well above 1 means Delta W is large "
                              "along directions that W0 itself barely uses: the update amplifies "
                              "features the pretrained layer had but did not emphasise.")
    W0 = np.asarray(W0, float)
    U0, _, V0t = np.linalg.svd(W0, full_matrices=False)
    swapped = np.linalg.norm(delta) / max(np.linalg.norm(U0[:, :r].T @ W0 @ V0t[:r].T), 1e-300)
    if math.isclose(value, 1 / expected, rel_tol=rel_tol):
        return Feedback(False, f"{value:.3g} is the ratio upside down: ||Delta W||_F on top.")
    if math.isclose(value, swapped, rel_tol=rel_tol):
        return Feedback(False, f"{value:.3g} uses W0's own singular vectors: the LoRA paper projects W0 on "
                               "Delta W's top-r singular vectors.")
    return Feedback(False, f"{value:.3g} is not it (within {rel_tol:.0%}): U and V come from the SVD "
                           "of Delta W, and the norms are Frobenius norms.")
