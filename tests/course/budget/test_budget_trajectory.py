"""adalora_lite.labs.budget: a recorded AdaLoRA run, its invariants, its replay and its cache."""
import time

import numpy as np
import pytest

from adalora_lite import BudgetSchedule, ConfigError
from adalora_lite.labs import budget as tr
from adalora_lite.labs.budget import TrajectoryParams, record, recorded

SMALL = TrajectoryParams(r=4, target_budget=5, total_steps=80, warmup_steps=15, final_steps=25,
                         planted_ranks=(1, 3, 2), width=10)


@pytest.fixture(scope="module")
def traj():
    return record(SMALL, progress=False)


def test_shapes_and_the_state_before_training(traj):
    T, n = 80, 12
    assert traj.n_steps == T and traj.n_triplets == n
    for a in (traj.lambdas, traj.lambdas_tilde, traj.masks, traj.scores):
        assert a.shape == (T + 1, n)
    assert traj.budgets.shape == traj.losses.shape == traj.test_losses.shape == (T + 1,)
    assert traj.layer_names == ("layers.0", "layers.1", "layers.2")
    assert np.all(traj.lambdas[0] == 0) and np.all(traj.masks[0]) and traj.budgets[0] == 12
    assert np.isnan(traj.losses[0]) and traj.test_losses[0] == traj.start_loss
    assert np.all(np.isfinite(traj.losses[1:]))
    with pytest.raises(ValueError):
        traj.lambdas[3, 0] = 1.0  # read-only: a replay can not change the record


def test_budgets_follow_the_schedule_and_masks_keep_exactly_the_budget(traj):
    schedule = BudgetSchedule(total_steps=80, init_budget=12, target_budget=5, warmup_steps=15,
                              final_steps=25)
    for t in range(1, 81):
        assert traj.budgets[t] == schedule.budget(t)
        if t > 15:  # masking at every step from the end of warm-up on
            assert traj.masks[t].sum() == traj.budgets[t]
        else:
            assert traj.masks[t].all()
    # After the final phase starts, the allocation is frozen.
    assert all(np.array_equal(traj.masks[t], traj.masks[55]) for t in range(55, 81))


def test_masked_lambdas_are_zero_and_kept_ones_equal_lambda_tilde(traj):
    m = traj.masks
    assert np.all(traj.lambdas[m == False] == 0)  # noqa: E712
    np.testing.assert_array_equal(traj.lambdas[m], traj.lambdas_tilde[m])
    # A masked triplet still gets a gradient: its lambda-tilde is small but not zero.
    assert np.abs(traj.lambdas_tilde[-1][~m[-1]]).max() > 0


def test_scores_are_zero_before_training_then_non_negative(traj):
    assert np.all(traj.scores[0] == 0)
    assert np.all(traj.scores[1:] >= 0) and traj.scores[20].sum() > 0


def test_snapshot_cuts_rows_into_layers(traj):
    s = traj.at(40)
    assert s.step == 40 and s.budget == traj.budgets[40]
    assert list(s.lambdas) == list(traj.layer_names)
    np.testing.assert_array_equal(np.concatenate(list(s.lambdas.values())), traj.lambdas[40])
    np.testing.assert_array_equal(np.concatenate(list(s.masks.values())), traj.masks[40])
    assert s.ranks == traj.ranks_at(40)
    assert sum(s.ranks.values()) == 12 - traj.n_masked(40)
    np.testing.assert_array_equal(traj.rank_history()[40], list(traj.ranks_at(40).values()))
    assert traj.planted_ranks == {"layers.0": 1, "layers.1": 3, "layers.2": 2}


@pytest.mark.parametrize("step", [-1, 81, 2.5])
def test_steps_outside_the_run_are_rejected(traj, step):
    with pytest.raises(ConfigError):
        traj.at(step)


def test_test_loss_is_held_between_evaluations(traj):
    assert traj.test_losses[1] == traj.test_losses[0] == traj.test_losses[4]
    assert traj.test_losses[5] != traj.test_losses[4]
    assert traj.test_losses[-1] < traj.start_loss


def test_recording_is_deterministic(traj):
    again = record(SMALL, progress=False)
    np.testing.assert_array_equal(again.lambdas, traj.lambdas)
    np.testing.assert_array_equal(again.masks, traj.masks)


def test_progress_callable_sees_the_end():
    calls = []
    record(SMALL, progress=lambda step, total: calls.append((step, total)))
    assert calls[-1] == (80, 80) and calls[0] == (25, 80)


def test_cache_returns_the_same_recording_and_counts():
    tr.cache_clear()
    a = recorded(SMALL, progress=False)
    assert recorded(SMALL, progress=False) is a
    assert tr.cache_info() == {"hits": 1, "misses": 1, "size": 1}
    b = recorded(SMALL, progress=False, beta1=0.5)
    assert b is not a and b.params.beta1 == 0.5
    assert tr.cache_info()["misses"] == 2
    tr.cache_clear()
    assert tr.cache_info()["size"] == 0


def test_params_are_checked():
    with pytest.raises(ConfigError):
        TrajectoryParams(r=4, target_budget=17)  # more than 4 layers x r=4
    with pytest.raises(ConfigError):
        recorded(SMALL, progress=False, no_such_knob=1)
    with pytest.raises(ConfigError):
        record("r=8")
    assert TrajectoryParams(alpha=8) == TrajectoryParams(alpha=8.0)  # one cache key


def test_default_recording_takes_about_a_second_of_cpu():
    start = time.process_time()
    traj = record(progress=False)
    assert time.process_time() - start < 3.0  # CPU time: immune to other processes' load
    assert traj.n_steps == 1000 and sum(traj.ranks_at(1000).values()) == 12


def test_a_trajectory_is_a_recording_of_steps_0_to_T(traj):
    from adalora_lite.recording import Recording

    assert isinstance(traj, Recording) and list(traj.steps) == list(range(81))
    assert traj.ranks == (4, 4, 4) and traj.final_ranks() == traj.ranks_at(80)
    assert traj.meta["target_budget"] == 5 and traj.params == SMALL
    back = Recording.from_json(traj.to_json())
    np.testing.assert_array_equal(back.lambdas, traj.lambdas)
    np.testing.assert_array_equal(back.masks, traj.masks)
    assert TrajectoryParams(**back.meta) == SMALL


def test_the_paper_order_keeps_the_same_invariants():
    traj = record(SMALL, progress=False, order="paper")
    m = traj.masks
    assert traj.params.order == "paper" and sum(traj.final_ranks().values()) == 5
    assert np.all(traj.lambdas[m == False] == 0)  # noqa: E712
    np.testing.assert_array_equal(traj.lambdas[m], traj.lambdas_tilde[m])
    with pytest.raises(ConfigError):
        TrajectoryParams(order="authors")


def test_record_gradients_keeps_what_the_allocator_scored(traj):
    rec = tr.record_gradients(SMALL)
    np.testing.assert_array_equal(rec.masks, traj.masks)
    assert rec.steps[0] is None and len(rec.steps) == 81
    (_, _), (lam, _), (_, _) = rec.steps[40]["layers.1"]
    np.testing.assert_array_equal(lam, traj.lambdas_tilde[40, traj.slices()["layers.1"]])
