"""What every checker returns, and the answer parsing they share.

A checker takes the student's answer (None while unanswered) and returns a Feedback: truthy when
right, and its text (what the notebook shows) says why, or what to look at again.
"""
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Feedback:
    """A checker's verdict: `correct` and a message (shown as the cell's output)."""
    correct: bool
    message: str

    def __bool__(self):
        return self.correct

    def __repr__(self):
        return self.message

    def _repr_pretty_(self, p, cycle):  # IPython shows the message without quotes
        p.text(self.message)


def unanswered(hint):
    return Feedback(False, f"Not answered yet: replace None with your answer. Hint: {hint}")


def as_number(answer):
    """The answer as a finite float, or None when it is not a number (a bool is not a number)."""
    if isinstance(answer, (bool, np.bool_)):
        return None
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def agrees(value, expected, *, rel_tol=1e-3, min_digits=2):
    """Whether a student's number is `expected`: within rel_tol, or `expected` correctly rounded
    to the significant digits the student wrote (2.24 for sqrt(5) = 2.2360...), at least min_digits.
    """
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=1e-12):
        return True
    digits = len(repr(float(value)).lower().split("e")[0].replace("-", "").replace(".", "").strip("0"))
    return digits >= min_digits and float(f"{expected:.{digits}g}") == float(value)


def not_a_number(answer, what="a single number"):
    return Feedback(False, f"Your answer {answer!r} is not a number: give {what}.")
