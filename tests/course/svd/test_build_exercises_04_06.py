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


# -- notebook 05: the learner's scoring functions, plugged into a Scorer ----------------------------

def test_scoring_or_reference(capsys):
    from adalora_lite.exercises.importance import scoring_or_reference

    got = scoring_or_reference(None, lambda *a: None, solutions.triplet_score)
    assert got["sensitivity"] is solutions.sensitivity
    assert got["smooth"] is solutions.smooth
    assert got["triplet_score"] is solutions.triplet_score
    out = capsys.readouterr().out
    assert out.count("reference solution") == 2 and "using your triplet_score" in out


def test_scores_side_by_side_catches_a_wrong_scorer():
    from adalora_lite.labs.digits import mirrored_digits_task
    from adalora_lite.labs.importance import scores_side_by_side
    from adalora_lite.scoring import layer_triplet_scores, sensitivity, smooth

    class Right:
        def __init__(self, beta1=0.85, beta2=0.85, swap=False):
            self.ema, self.b1, self.b2, self.swap = {}, beta1, beta2, swap

        def __call__(self, layers):
            out = {}
            for name, layer in layers.items():
                s = []
                for k, (w, g) in enumerate(layer.weights_and_grads()):
                    i = sensitivity(w, g)
                    e, u = self.ema.get((name, k), (0 * i, 0 * i))
                    b1, b2 = (1 - self.b1, self.b2) if self.swap else (self.b1, self.b2)
                    self.ema[name, k] = smooth(e, u, i, beta1=b1, beta2=b2)
                    s.append(self.ema[name, k][0] * self.ema[name, k][1])
                out[name] = layer_triplet_scores(s[0], s[1], s[2])
            return out

    task = mirrored_digits_task()
    diff, top = scores_side_by_side(task, Right(), steps=10)
    assert diff <= 1e-12 * top and top > 0
    diff, top = scores_side_by_side(task, Right(swap=True), steps=10)
    assert diff > 1e-3 * top


# -- notebook 06: the allocator loop on recorded gradients ------------------------------------------

def test_allocation_or_reference(capsys):
    from adalora_lite.exercises.budget import allocation_or_reference

    top_b, budget = allocation_or_reference(None, solutions.cubic_budget)
    assert top_b is solutions.top_b_mask and budget is solutions.cubic_budget
    out = capsys.readouterr().out
    assert "reference solution until yours passes (top_b_mask)" in out
    assert "using your cubic_budget" in out


def test_record_gradients_masks_follow_the_budget():
    from adalora_lite.labs.budget import record_gradients

    rec = record_gradients(total_steps=60, warmup_steps=10, final_steps=20, target_budget=12)
    assert len(rec.steps) == 61 and rec.steps[0] is None
    assert rec.masks.sum(axis=1).tolist() == rec.budgets.tolist()
    name = rec.layer_names[0]
    (P, dP), (lam, dlam), (Q, dQ) = rec.steps[5][name]
    assert P.shape == dP.shape and lam.shape == dlam.shape and Q.shape == dQ.shape
