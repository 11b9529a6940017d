"""The build exercises of notebooks 04-06: each checker accepts the reference solution, names each
slip, and the *_or_reference helpers fall back to the reference while the stub is unanswered."""
import numpy as np

from adalora_lite.exercises import solutions
from adalora_lite.exercises.svd import check_orthogonality_grad, orthogonality_grad_or_reference


def _eye(n):
    return np.eye(n)


def test_orthogonality_grad_accepts_the_reference():
    assert check_orthogonality_grad(solutions.orthogonality_grad)


def test_orthogonality_grad_unanswered_and_stub():
    assert not check_orthogonality_grad(None)
    assert "Not answered" in check_orthogonality_grad(lambda P, Q: ...).message


def test_orthogonality_grad_names_its_slips():
    def half(P, Q):
        dP, dQ = solutions.orthogonality_grad(P, Q)
        return dP / 2, dQ

    def sign(P, Q):
        dP, dQ = solutions.orthogonality_grad(P, Q)
        return -dP, dQ

    def squared(P, Q):
        return 4 * P @ (P.T @ P - _eye(P.shape[1])) ** 2, solutions.orthogonality_grad(P, Q)[1]

    def q_half(P, Q):
        dP, dQ = solutions.orthogonality_grad(P, Q)
        return dP, dQ / 2

    def not_a_pair(P, Q):
        return solutions.orthogonality_grad(P, Q)[0]

    assert "half the gradient" in check_orthogonality_grad(half).message
    assert "sign" in check_orthogonality_grad(sign).message
    assert "not squared" in check_orthogonality_grad(squared).message
    assert check_orthogonality_grad(q_half).message.startswith("dR/dQ: Not yet: half")
    assert "pair" in check_orthogonality_grad(not_a_pair).message


def test_orthogonality_grad_or_reference(capsys):
    assert orthogonality_grad_or_reference(lambda P, Q: ...) is solutions.orthogonality_grad
    assert "reference solution" in capsys.readouterr().out

    def learner(P, Q):
        return solutions.orthogonality_grad(P, Q)

    assert orthogonality_grad_or_reference(learner) is learner
    assert "using your" in capsys.readouterr().out
