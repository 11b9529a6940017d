"""adalora_lite.exercises.budget: right answers pass, typical wrong ones get a pointed hint."""
import pytest

from adalora_lite import budget_schedule
from adalora_lite.exercises.budget import (check_budget_at_step, check_final_ranks,
                                           check_kept_parameters, final_ranks)

SMALL = dict(r=4, total_steps=80, warmup_steps=15, final_steps=25, planted_ranks=(1, 3, 2),
             width=10)


@pytest.mark.parametrize("check", [check_budget_at_step, check_kept_parameters,
                                   lambda a: check_final_ranks(a, 4, **SMALL)])
def test_placeholder_is_not_an_error(check):
    fb = check(None)
    assert not fb and fb.message.startswith("Not answered yet")
    assert repr(fb) == fb.message


def test_budget_at_step():
    kw = dict(total_steps=1000, init_budget=32, target_budget=12, warmup_steps=200, final_steps=300)
    assert budget_schedule(350, **kw) == 18
    assert check_budget_at_step(18) and check_budget_at_step(18.0)
    assert "truncates 18.86" in check_budget_at_step(18).message
    assert "cuts the fraction off" in check_budget_at_step(19).message
    assert "linear" in check_budget_at_step(26).message
    assert "end of warm-up" in check_budget_at_step(14).message
    assert not check_budget_at_step(3) and "Not quite" in check_budget_at_step(3).message
    assert "not a number" in check_budget_at_step("many").message
    assert not check_budget_at_step(True)
    # Other steps and schedules: the checker follows the library.
    assert check_budget_at_step(32, step=100) and check_budget_at_step(12, step=900)
    assert check_budget_at_step(budget_schedule(60, **dict(kw, total_steps=100, warmup_steps=10,
                                                           final_steps=20)),
                                step=60, total_steps=100, warmup_steps=10, final_steps=20)


def test_kept_parameters():
    assert check_kept_parameters(588) and "576" in check_kept_parameters(588).message
    assert "own lambda" in check_kept_parameters(576).message
    assert "at the start" in check_kept_parameters(1568).message
    assert "whole weight matrices" in check_kept_parameters(12 * 24 * 24).message
    assert not check_kept_parameters(600)
    assert check_kept_parameters(3 * 21, budget=3, d_out=10, d_in=10)


def test_final_ranks_reads_the_recorded_run():
    expected = final_ranks(4, **SMALL)
    assert sum(expected) == 4 and len(expected) == 3
    assert check_final_ranks(expected, 4, **SMALL)
    assert check_final_ranks(tuple(expected), 4, **SMALL)
    assert "add up to 5" in check_final_ranks([2, 2, 1], 4, **SMALL).message
    wrong = list(expected)
    i = next(k for k, v in enumerate(wrong) if v > 0)
    j = (i + 1) % 3
    wrong[i] -= 1
    wrong[j] += 1
    fb = check_final_ranks(wrong, 4, **SMALL)
    assert not fb and f"layers.{i}" in fb.message
    assert "3 adapted layers" in check_final_ranks([1, 3], 4, **SMALL).message
    assert "as a list" in check_final_ranks("1, 2, 1", 4, **SMALL).message


def test_kept_parameters_of_the_notebook_question():
    """Notebook 06 asks for 12 triplets in 3072 x 768 layers: 12 x (3072 + 768 + 1) = 46092."""
    def check(answer):
        return check_kept_parameters(answer, budget=12, d_out=3072, d_in=768)
    for right in (46092, 46092.0, "46092", 12 * (3072 + 768 + 1)):
        assert check(right), right
    assert "own lambda" in check(12 * (3072 + 768)).message
    assert "at the start" in check(4 * 8 * (3072 + 768 + 1)).message
    assert "whole weight matrices" in check(4 * 3072 * 768).message
    assert not check(588) and not check(46000) and not check(None)
    assert check(None).message.startswith("Not answered yet")
