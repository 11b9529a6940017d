"""adalora_lite.exercises.write_it: the reference solutions pass, typical slips are named."""
import numpy as np
import pytest

from adalora_lite.exercises import solutions as sol
from adalora_lite.exercises import write_it as ex


@pytest.mark.parametrize("check, solution", [
    (ex.check_sensitivity, sol.sensitivity), (ex.check_smooth, sol.smooth),
    (ex.check_triplet_score, sol.triplet_score), (ex.check_top_b_mask, sol.top_b_mask),
    (ex.check_cubic_budget, sol.cubic_budget)])
def test_reference_solutions_pass_and_placeholders_wait(check, solution):
    assert check(solution)
    assert repr(check(None)).startswith("Not answered yet")
    crashed = check(lambda *args: 1 / 0)
    assert not crashed and "ZeroDivisionError" in repr(crashed)


def test_sensitivity_slips():
    assert "absolute value" in repr(ex.check_sensitivity(lambda w, g: w * g))
    assert "weight matters" in repr(ex.check_sensitivity(lambda w, g: np.abs(g)))
    assert "shape" in repr(ex.check_sensitivity(lambda w, g: np.abs(w * g).sum()))


def test_smooth_slips():
    def swapped(ibar, ubar, i, b1, b2):
        ibar = b1 * i + (1 - b1) * ibar
        return ibar, b2 * ubar + (1 - b2) * np.abs(i - ibar)

    def stale(ibar, ubar, i, b1, b2):
        return b1 * ibar + (1 - b1) * i, b2 * ubar + (1 - b2) * np.abs(i - ibar)

    assert "multiplies ibar" in repr(ex.check_smooth(swapped))
    assert "just updated" in repr(ex.check_smooth(stale))
    assert "pair" in repr(ex.check_smooth(lambda *a: a[0]))


def test_triplet_score_slips():
    assert "averages" in repr(ex.check_triplet_score(lambda p, l, q: l + p.sum(0) + q.sum(1)))
    assert "first of the three" in repr(ex.check_triplet_score(lambda p, l, q: p.mean(0) + q.mean(1)))
    one_off = ex.check_triplet_score(lambda p, l, q: l + p.mean(0) + q.mean(1) + (np.arange(4) == 2))
    assert "Entry 2 differs" in repr(one_off)


def test_top_b_mask_slips():
    def lowest(scores, b):
        return sol.top_b_mask(-scores, b)

    def keeps_ties(scores, b):  # every score at least the b-th highest: ties make it more than b
        return scores >= np.sort(scores)[::-1][b - 1]

    def unstable_ties(scores, b):  # keeps the later of two tied scores
        keep = np.zeros(len(scores), bool)
        keep[np.argsort(-scores[::-1], kind="stable")[:b]] = True
        return keep[::-1]

    assert "lowest" in repr(ex.check_top_b_mask(lowest))
    assert "exactly b" in repr(ex.check_top_b_mask(lambda s, b: s > 0.4))
    assert "boolean" in repr(ex.check_top_b_mask(lambda s, b: np.argsort(-s)[:b]))
    assert "lower index" in repr(ex.check_top_b_mask(unstable_ties))
    assert "You keep 3" in repr(ex.check_top_b_mask(keeps_ties))


def test_cubic_budget_slips():
    def linear(t, T, b0, bT, ti, tf):
        if t <= ti:
            return b0
        return bT if t > T - tf else int(bT + (b0 - bT) * (1 - (t - ti) / (T - ti - tf)))

    def rounded(t, T, b0, bT, ti, tf):
        if t <= ti:
            return b0
        return bT if t > T - tf else round(bT + (b0 - bT) * (1 - (t - ti) / (T - ti - tf)) ** 3)

    assert "cubic decay" in repr(ex.check_cubic_budget(linear))
    assert not ex.check_cubic_budget(rounded)
    assert "warm-up" in repr(ex.check_cubic_budget(lambda t, T, b0, bT, ti, tf: bT))


@pytest.mark.parametrize("check", [ex.check_sensitivity, ex.check_smooth, ex.check_triplet_score,
                                   ex.check_top_b_mask, ex.check_cubic_budget])
@pytest.mark.parametrize("stub_result", [None, Ellipsis])
def test_the_notebooks_stub_waits(check, stub_result):
    """The notebooks' stubs (`return None  # your code`, or `...`) get "not yet", never a crash."""
    feedback = check(lambda *args: stub_result)
    assert not feedback and repr(feedback).startswith("Not answered yet")


def test_cubic_budget_names_the_papers_appendix_a_as_printed():
    def printed(t, T, b0, bT, ti, tf):  # Appendix A, literally: (t - t_i - t_f) in the cubic term
        if t < ti:
            return b0
        if t < T - tf:
            return int(bT + (b0 - bT) * (1 - (t - ti - tf) / (T - ti - tf)) ** 3)
        return bT
    feedback = ex.check_cubic_budget(printed)
    assert not feedback and "Appendix A" in repr(feedback) and "(t - t_i)" in repr(feedback)
