"""The cubic budget schedule: its phases, its shape, and its bad-input errors."""
import pytest
from hypothesis import given, strategies as st

from adalora_lite import BudgetSchedule, ConfigError, budget_schedule


@st.composite
def schedules(draw):
    total = draw(st.integers(2, 5000))
    warmup = draw(st.integers(0, total - 1))
    final = draw(st.integers(0, total - 1 - warmup))
    init = draw(st.integers(1, 2000))
    target = draw(st.integers(1, init))
    return dict(total_steps=total, init_budget=init, target_budget=target,
                warmup_steps=warmup, final_steps=final)


@given(schedules())
def test_starts_at_initial_budget_and_ends_at_target(kw):
    assert budget_schedule(0, **kw) == kw["init_budget"]
    assert budget_schedule(kw["warmup_steps"], **kw) == kw["init_budget"]
    assert budget_schedule(kw["total_steps"] - kw["final_steps"], **kw) == kw["target_budget"]
    assert budget_schedule(kw["total_steps"], **kw) == kw["target_budget"]


@given(schedules())
def test_never_increases_and_stays_in_range(kw):
    budgets = [budget_schedule(t, **kw) for t in range(kw["total_steps"] + 1)]
    assert all(b1 >= b2 for b1, b2 in zip(budgets, budgets[1:]))
    assert all(kw["target_budget"] <= b <= kw["init_budget"] for b in budgets)
    assert all(isinstance(b, int) for b in budgets)


def test_matches_the_cubic_formula_in_the_middle():
    # PEFT's formula, written out: int((b0 - bT) * (1 - (t - ti) / (T - tf - ti))**3 + bT)
    kw = dict(total_steps=100, init_budget=120, target_budget=40, warmup_steps=10, final_steps=20)
    assert budget_schedule(30, **kw) == int(80 * (1 - 20 / 70) ** 3 + 40) == 69
    assert budget_schedule(11, **kw) == int(80 * (1 - 1 / 70) ** 3 + 40) == 116


def test_masking_cadence_follows_peft():
    s = BudgetSchedule(total_steps=100, init_budget=12, target_budget=4, warmup_steps=10,
                       final_steps=20, mask_interval=5)
    masked = [t for t in range(0, 101) if s.masks_at(t)]
    assert masked == [15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80]
    s7 = BudgetSchedule(total_steps=100, init_budget=12, target_budget=4, warmup_steps=10,
                        final_steps=20, mask_interval=7)
    assert s7.masks_at(80) and not s7.masks_at(81)  # final_start always masks, later never re-ranks


@pytest.mark.parametrize("bad, name", [
    (dict(target_budget=200), "target_budget"),
    (dict(target_budget=0), "target_budget"),
    (dict(init_budget=0), "init_budget"),
    (dict(warmup_steps=50, final_steps=50), "warmup_steps + final_steps"),
    (dict(warmup_steps=-1), "warmup_steps"),
    (dict(total_steps=2.5), "total_steps"),
])
def test_bad_input_names_the_parameter(bad, name):
    kw = dict(total_steps=100, init_budget=120, target_budget=40, warmup_steps=10, final_steps=20)
    with pytest.raises(ConfigError, match=name.replace("+", r"\+")):
        budget_schedule(0, **{**kw, **bad})


def test_negative_step_is_rejected():
    with pytest.raises(ValueError, match="step"):
        budget_schedule(-1, total_steps=10, init_budget=4, target_budget=2, warmup_steps=1,
                        final_steps=1)
