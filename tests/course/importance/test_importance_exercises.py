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


def test_ema_memory_of_the_notebook_question():
    """Notebook 05 asks for 1 % at beta1 = 0.85: 0.85**28 = 0.0106, 0.85**29 = 0.0090."""
    assert ex.ema_memory(0.85, 0.01) == 29
    assert ex.check_ema_memory(29, beta1=0.85, fraction=0.01)
    assert ex.check_ema_memory(29.0, beta1=0.85, fraction=0.01)  # a float that is a whole number
    assert "more steps" in repr(ex.check_ema_memory(15, beta1=0.85, fraction=0.01))  # the 10 % answer
    assert "fewer steps" in repr(ex.check_ema_memory(30, beta1=0.85, fraction=0.01))
    assert not ex.check_ema_memory(28, beta1=0.85, fraction=0.01)


TERMS = {"layers.0": {"s_lam": np.array([1.0262e-02]), "mean_s_P": np.array([7.4430e-05]),
                      "mean_s_Q": np.array([1.1566e-04]), "sum": np.array([1.0452e-02])}}


def test_summed_score_right_and_rounded():
    right = 1.0262e-02 + 32 * 7.4430e-05 + 64 * 1.1566e-04  # 0.02004600
    assert ex.summed_score(TERMS, "layers.0", 0, 32, 64) == right
    for answer in (right, 0.020046, 0.02005, 2.005e-2, "0.020046"):
        assert ex.check_summed_score(answer, TERMS, "layers.0", 0, 32, 64), answer
    # computed from the *printed* 4-digit terms of a run whose exact terms differ in the 5th digit
    exact = {"layers.0": {k: v * (1 + 4e-5) for k, v in TERMS["layers.0"].items()}}
    assert ex.check_summed_score(right, exact, "layers.0", 0, 32, 64)


def test_summed_score_wrong_answers():
    def check(answer):
        return ex.check_summed_score(answer, TERMS, "layers.0", 0, 32, 64)
    assert "allocator's S" in repr(check(1.0452e-02))
    assert "swapped" in repr(check(1.0262e-02 + 64 * 7.4430e-05 + 32 * 1.1566e-04))
    assert "first of the three" in repr(check(32 * 7.4430e-05 + 64 * 1.1566e-04))
    assert not check(0.03) and not check(0.02)  # 0.02 is 0.2 % off, and one significant digit
    assert not check("x") and not check([1, 2])
    assert repr(check(None)).startswith("Not answered yet")
