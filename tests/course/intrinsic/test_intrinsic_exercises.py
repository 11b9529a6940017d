"""adalora_lite.exercises.intrinsic: right answers pass, wrong ones get a useful message."""
import numpy as np

from adalora_lite.exercises.intrinsic import (check_d_at_fraction, check_energy_rank,
                                              check_subspace_counts, check_update_energy)
from adalora_lite.labs.intrinsic import SweepResult

SWEEP = SweepResult([5, 10, 50, 100], [0.3, 0.6, 0.9, 0.95], 0.96, 2410)


def test_placeholders_do_not_raise():
    for fb in (check_d_at_fraction(SWEEP, 0.8, None), check_update_energy(np.eye(3), 1, None),
               check_subspace_counts(100, 5, None), check_energy_rank(np.eye(3), fraction=0.99, answer=None)):
        assert not fb and repr(fb).startswith("Not answered yet")


def test_d_at_fraction():
    assert check_d_at_fraction(SWEEP, 0.6, 10)  # 0.576 needed
    assert "below" in repr(check_d_at_fraction(SWEEP, 0.6, 5))
    assert "smaller d" in repr(check_d_at_fraction(SWEEP, 0.6, 50))
    assert "swept" in repr(check_d_at_fraction(SWEEP, 0.6, 7))
    assert "extend" in repr(check_d_at_fraction(SWEEP, 0.999, 100))


def test_update_energy():
    delta = np.diag([3.0, 1.0, 0.0])  # top-1 energy 9/10
    assert check_update_energy(delta, 1, 0.9)
    assert check_update_energy(delta, 1, 90)  # a percentage is accepted
    assert "squares" in repr(check_update_energy(delta, 1, 0.75))  # 3 / 4
    assert "relative error" in repr(check_update_energy(delta, 1, np.sqrt(0.1)))
    assert not check_update_energy(delta, 1, 0.5)


def test_subspace_counts():
    assert check_subspace_counts(2410, 100, (100, 241000))
    assert "only z" in repr(check_subspace_counts(2410, 100, (2410, 241000)))
    assert "one column" in repr(check_subspace_counts(2410, 100, (100, 2410)))
    assert "pair" in repr(check_subspace_counts(2410, 100, 100))


def test_energy_rank():
    # energies 16, 4, 1, 0.25 (total 21.25): top 2 hold 94.1%, top 3 hold 98.8%, all 4 hold 100%
    delta = np.diag([4.0, 2.0, 1.0, 0.5])
    for right in (4, 4.0, np.int64(4)):
        assert check_energy_rank(delta, fraction=0.99, answer=right)
    assert "for 90%" in repr(check_energy_rank(delta, fraction=0.99, answer=2, shown=0.9))  # copied 90% rank
    assert "short of" in repr(check_energy_rank(delta, fraction=0.99, answer=3))
    assert "whole number" in repr(check_energy_rank(delta, fraction=0.99, answer=3.5))
    assert "whole number" in repr(check_energy_rank(delta, fraction=0.99, answer=9))
    assert "not a number" in repr(check_energy_rank(delta, fraction=0.99, answer="four"))
    # the smallest, not any rank that reaches it
    assert check_energy_rank(delta, fraction=0.95, answer=3)
    assert "fewer" in repr(check_energy_rank(np.diag([4.0, 2.0, 1.0, 0.5, 0.01]), fraction=0.95, answer=5))
