"""adalora_lite.exercises.rank: right answers pass, wrong ones get a useful message."""
import numpy as np
import pytest

from adalora_lite.exercises.rank import (Feedback, check_breakeven_rank, check_rank_for_budget,
                                         check_rank_for_error, check_tail_error)
from adalora_lite.labs.rank import LowRankApprox


def test_placeholder_does_not_raise_and_is_not_correct():
    approx = LowRankApprox(np.eye(5))
    for fb in (check_tail_error([3, 2, 1], 1, None), check_breakeven_rank(4, 4, None),
               check_rank_for_error(approx, 0.5, None), check_rank_for_budget(4, 4, 0.5, None)):
        assert isinstance(fb, Feedback) and not fb
        assert repr(fb).startswith("Not answered yet")


def test_tail_error_checker():
    s = [5, 3, 2, 1]
    assert check_tail_error(s, 2, np.sqrt(5))
    assert check_tail_error(s, 2, 2.2361)
    assert check_tail_error(s, 2, 2.24) and check_tail_error(s, 2, 2.2)  # rounded right
    assert not check_tail_error(s, 2, 2.23) and not check_tail_error(s, 2, 2.0)  # rounded wrong
    assert "squares" in repr(check_tail_error(s, 2, 3))
    assert "square root" in repr(check_tail_error(s, 2, 5))
    assert "spectral" in repr(check_tail_error(s, 2, 2))
    assert not check_tail_error(s, 2, 7.0)
    assert "not a number" in repr(check_tail_error(s, 2, "two"))


def test_breakeven_checker():
    assert check_breakeven_rank(384, 1536, 307)
    wrong_high = check_breakeven_rank(384, 1536, 308)
    assert not wrong_high and "not fewer" in repr(wrong_high)
    assert "larger r" in repr(check_breakeven_rank(384, 1536, 8))
    assert "whole number" in repr(check_breakeven_rank(384, 1536, 307.2))


def test_breakeven_checker_accepts_any_integer_type():
    assert check_breakeven_rank(384, 1536, 307.0) and check_breakeven_rank(384, 1536, np.int64(307))


def test_rank_for_budget_checker():
    # LLaMA-7B's feed-forward matrix, 1% budget: 0.01 * 11008 * 4096 / 15104 = 29.85 -> 29
    for right in (29, 29.0, np.int64(29)):
        assert check_rank_for_budget(11008, 4096, 0.01, right)
    over = check_rank_for_budget(11008, 4096, 0.01, 30)  # rounded up: 1.005% of d k
    assert not over and "over the 1% budget" in repr(over)
    assert "whole number" in repr(check_rank_for_budget(11008, 4096, 0.01, 29.85))  # unrounded
    assert "larger rank" in repr(check_rank_for_budget(11008, 4096, 0.01, 8))
    assert "break-even" in repr(check_rank_for_budget(11008, 4096, 0.01, 2985))
    assert not check_rank_for_budget(11008, 4096, 0.01, 0)
    assert "not a number" in repr(check_rank_for_budget(11008, 4096, 0.01, "r"))
    # exactly on the budget is within it: (4 + 4) r <= 0.5 * 16 -> r = 1
    assert check_rank_for_budget(4, 4, 0.5, 1) and not check_rank_for_budget(4, 4, 0.5, 2)


def test_rank_for_error_checker():
    approx = LowRankApprox(np.diag([4.0, 2.0, 1.0, 0.5]))  # relative errors: r=1 .5, r=2 .26...
    errs = [approx.relative_error(r) for r in range(1, 5)]
    target = 0.3
    best = 1 + next(i for i, e in enumerate(errs) if e <= target)
    assert check_rank_for_error(approx, target, best)
    assert "above" in repr(check_rank_for_error(approx, target, best - 1))
    assert "smallest" in repr(check_rank_for_error(approx, target, best + 1))
    assert "whole number" in repr(check_rank_for_error(approx, target, 99))


@pytest.mark.parametrize("answer", [True, float("nan"), [1, 2]])
def test_non_numbers_are_refused(answer):
    assert "not a number" in repr(check_tail_error([2, 1], 1, answer))
