"""errors.py: checks fail early and name the parameter and its range; the public error types."""
import math
import warnings

import numpy as np
import pytest

import adalora_lite
from adalora_lite.errors import (BudgetNotAppliedWarning, ConfigError, NonFiniteGradientError,
                                 check_int, check_nonnegative, check_open_unit, check_positive,
                                 check_rank)


def test_public_errors_are_value_errors_and_the_warning_a_user_warning():
    assert issubclass(ConfigError, ValueError) and issubclass(NonFiniteGradientError, ValueError)
    assert issubclass(BudgetNotAppliedWarning, UserWarning)
    assert adalora_lite.BudgetNotAppliedWarning is BudgetNotAppliedWarning
    with pytest.warns(BudgetNotAppliedWarning):
        warnings.warn(BudgetNotAppliedWarning("x"))


def test_check_int():
    assert check_int("steps", np.int64(3), low=1) == 3
    with pytest.raises(ConfigError, match=r"steps must be in \[1, inf\], got 0"):
        check_int("steps", 0, low=1)
    with pytest.raises(ConfigError, match="steps must be an integer"):
        check_int("steps", 2.5)
    with pytest.raises(ConfigError, match="flag must be an integer"):
        check_int("flag", True)


@pytest.mark.parametrize("check, bad", [(check_positive, 0), (check_positive, math.inf),
                                        (check_nonnegative, -1e-9), (check_open_unit, 1.0),
                                        (check_positive, "x"), (check_open_unit, None)])
def test_real_checks_name_the_parameter(check, bad):
    with pytest.raises(ConfigError, match="^alpha must be"):
        check("alpha", bad)


def test_rank_is_bounded_by_the_smaller_side():
    assert check_rank("r", 3, d_out=3, d_in=8) == 3
    with pytest.raises(ConfigError, match=r"r must be in \[1, 3\], got 4"):
        check_rank("r", 4, d_out=3, d_in=8)
