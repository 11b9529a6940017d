"""What bad input raises and warns: checks that fail early, with messages that name the parameter
and the allowed range; the two errors and the warning of the public API.

Every public constructor calls these instead of letting a typo crash deep inside NumPy or torch.
"""
import math
import os
import sys

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class ConfigError(ValueError):
    """A user-facing argument is outside what the algorithm allows."""


def check_int(name, value, *, low=None, high=None):
    """`value` must be an integer in [low, high] (either bound may be open-ended)."""
    if isinstance(value, bool) or not isinstance(value, int) and not _is_integral(value):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name} must be in {_range(low, high)}, got {value}")
    return value


def check_positive(name, value):
    """`value` must be a finite real number > 0."""
    if isinstance(value, bool) or not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_nonnegative(name, value):
    """`value` must be a finite real number >= 0."""
    if isinstance(value, bool) or not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_open_unit(name, value):
    """`value` must lie strictly inside (0, 1): an EMA coefficient."""
    if isinstance(value, bool) or not _is_real(value) or not 0 < value < 1:
        raise ConfigError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return float(value)


def check_rank(name, r, *, d_out, d_in):
    """A rank must be 1..min(d_out, d_in): beyond that the factors cannot be independent."""
    return check_int(name, r, low=1, high=min(d_out, d_in))


def _is_integral(value):
    return hasattr(value, "__index__")


def _is_real(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _range(low, high):
    lo = "-inf" if low is None else str(low)
    hi = "inf" if high is None else str(high)
    return f"[{lo}, {hi}]"


class NonFiniteGradientError(ValueError):
    """A NaN or inf gradient reached the allocator: scores built on it would rank nothing."""


class BudgetNotAppliedWarning(UserWarning):
    """Adapters managed by a RankAllocator are used before its final allocation was applied."""


def outside_package_stacklevel():
    """The `stacklevel` for warnings.warn, called from the function that warns, that names the
    user's line: the first frame outside adalora_lite, however deep the package's own calls go."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
