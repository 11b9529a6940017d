"""adalora_lite.exercises.svd: right answers pass, wrong ones get a helpful message, none raise."""
import numpy as np
import pytest

from adalora_lite.labs import svd as svd_lab
from adalora_lite.labs.digits import mirrored_digits_task
from adalora_lite.exercises import svd as ex


def test_param_count():
    assert ex.check_param_count(776)
    assert ex.check_param_count(776.0)
    assert "LoRA" in repr(ex.check_param_count(768))
    assert "full weight" in repr(ex.check_param_count(2048))
    assert not ex.check_param_count(1000)
    assert not ex.check_param_count("many") and not ex.check_param_count(True)
    assert repr(ex.check_param_count(None)).startswith("Not answered yet")
    assert ex.check_param_count(10 * (5 + 3 + 1), d_out=5, d_in=3, r=10)


def test_masked_gradient_is_measured():
    assert ex.measured_masked_gradient() == {"P": False, "lam": True, "Q": False}
    assert ex.check_masked_gradient({"lam"})
    assert ex.check_masked_gradient("lam")
    assert ex.check_masked_gradient(["lam"])
    assert not ex.check_masked_gradient({"P", "lam", "Q"})
    assert not ex.check_masked_gradient(set())
    assert "Unknown" in repr(ex.check_masked_gradient({"lambda"}))
    assert not ex.check_masked_gradient(3)
    assert repr(ex.check_masked_gradient(None)).startswith("Not answered yet")


def test_masked_gradient_with_the_regularizer_moves_p_and_q_too():
    assert ex.measured_masked_gradient(gamma=0.1) == {"P": True, "lam": True, "Q": True}
    assert ex.check_masked_gradient({"P", "lam", "Q"}, gamma=0.1)
    assert "regularizer" in repr(ex.check_masked_gradient({"lam"}, gamma=0.1))


@pytest.fixture(scope="module")
def sweep():
    return svd_lab.gamma_sweep(mirrored_digits_task(), gammas=(0.0, 0.01, 0.3),
                               inits=("orthogonal",),
        settings=svd_lab.SVDSettings(total_steps=80))


def test_smallest_gamma(sweep):
    gaps = {g: sum(svd_lab.lambda_sv_gap(sweep[("orthogonal", g)]).values()) / 2 for g in (0.0, 0.01, 0.3)}
    max_gap = (gaps[0.01] + gaps[0.3]) / 2  # a threshold between the two: 0.3 must be the answer
    assert gaps[0.0] > max_gap and gaps[0.01] > max_gap
    assert ex.smallest_gamma(sweep, max_gap) == 0.3
    assert ex.check_smallest_gamma(0.3, sweep, max_gap)
    assert "go higher" in repr(ex.check_smallest_gamma(0.01, sweep, max_gap))
    assert "go lower" in repr(ex.check_smallest_gamma(0.3, sweep, max_gap=10.0))
    assert "slider's values" in repr(ex.check_smallest_gamma(0.5, sweep, max_gap))
    assert not ex.check_smallest_gamma("x", sweep, max_gap)
    assert repr(ex.check_smallest_gamma(None, sweep, max_gap)).startswith("Not answered yet")
    assert ex.smallest_gamma(sweep, max_gap=1e-9) is None


def test_layer_gap_right_rounded_and_wrong():
    from adalora_lite.exercises.svd import check_layer_gap
    from adalora_lite.labs.svd import lambda_sv_gap

    class Run:  # a recorded run in miniature: two layers of 3 triplets, one step
        layer_names = ("layers.0", "layers.1")
        lambdas = np.array([[0.5, -2.0, 1.0, 1.0, 1.0, 1.0]])
        sv = np.array([[2.5, 1.2, 0.4, 1.0, 1.0, 1.0]])

        def row(self, step):
            return 0

        def slices(self):
            return {"layers.0": slice(0, 3), "layers.1": slice(3, 6)}

    run = Run()
    right = lambda_sv_gap(run)["layers.0"]
    assert check_layer_gap(right, run)
    assert check_layer_gap(round(right, 3), run) and check_layer_gap(float(f"{right:.3g}"), run)
    assert not check_layer_gap(None, run) and "Not answered" in repr(check_layer_gap(None, run))
    lam, sv = np.abs(run.lambdas[0, :3]), run.sv[0, :3]
    assert "largest first" in repr(check_layer_gap(np.linalg.norm(lam - sv) / np.linalg.norm(sv), run))
    assert "relative" in repr(check_layer_gap(np.linalg.norm(np.sort(lam)[::-1] - sv), run))
    assert "mean over both layers" in repr(check_layer_gap(np.mean(list(lambda_sv_gap(run).values())), run))
    assert not check_layer_gap(right * 1.1, run)
    assert not check_layer_gap("a gap", run)
