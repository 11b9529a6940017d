"""adalora_lite.exercises.importance: right answers pass, wrong ones get a helpful message."""
import numpy as np

from adalora_lite.exercises import importance as ex


def test_ema_memory():
    assert ex.ema_memory(0.85, 0.1) == 15
    assert ex.ema_memory(0.5, 0.25) == 3  # 0.5**2 is not *below* 0.25
    assert ex.ema_memory(0.9, 0.95) == 1
    assert ex.check_ema_memory(15)
    assert "more steps" in repr(ex.check_ema_memory(10))
    assert "fewer steps" in repr(ex.check_ema_memory(20))
    assert not ex.check_ema_memory(15.5) and not ex.check_ema_memory("x") and not ex.check_ema_memory(0)
    assert repr(ex.check_ema_memory(None)).startswith("Not answered yet")
    assert ex.check_ema_memory(45, beta1=0.95, fraction=0.1)


def test_smoothing_step():
    ibar = 0.85 * 0.02 + 0.15 * 0.06
    ubar = 0.85 * 0.01 + 0.15 * abs(0.06 - ibar)
    assert ex.smoothing_step(0.02, 0.01, 0.06, 0.85, 0.85) == (ibar, ubar)
    assert ex.check_smoothing_step((ibar, ubar))
    assert ex.check_smoothing_step([round(ibar, 6), round(ubar, 6)])
    stale = 0.85 * 0.01 + 0.15 * abs(0.06 - 0.02)
    assert "previous Ibar" in repr(ex.check_smoothing_step((ibar, stale)))
    assert "Ibar is off" in repr(ex.check_smoothing_step((0.02, ubar)))
    assert "Ubar is off" in repr(ex.check_smoothing_step((ibar, 0.5)))
    assert not ex.check_smoothing_step(3.0) and not ex.check_smoothing_step(("a", "b"))
    assert not ex.check_smoothing_step((1, 2, 3))
    assert repr(ex.check_smoothing_step(None)).startswith("Not answered yet")


def test_dominant_term():
    terms = {"a": {"s_lam": np.array([5.0, 1.0, 0.0]), "mean_s_P": np.array([1.0, 2.0, 0.5]),
                   "mean_s_Q": np.array([0.0, 0.0, 0.1])},
             "b": {"s_lam": np.array([3.0]), "mean_s_P": np.array([0.0]), "mean_s_Q": np.array([4.0])}}
    assert ex.dominant_term(terms) == ("mean_s_P", {"s_lam": 1, "mean_s_P": 2, "mean_s_Q": 1})
    assert ex.check_dominant_term("mean_s_P", terms)
    assert "only 1 of 4" in repr(ex.check_dominant_term("s_lam", terms))
    assert not ex.check_dominant_term("lambda", terms)
    assert repr(ex.check_dominant_term(None, terms)).startswith("Not answered yet")


def test_smoothing_step_accepts_correctly_rounded_answers():
    ibar, ubar = ex.smoothing_step(0.02, 0.01, 0.06, 0.85, 0.85)
    assert ex.check_smoothing_step((round(ibar, 3), round(ubar, 4)))
    assert not ex.check_smoothing_step((round(ibar, 3) + 0.001, ubar))
