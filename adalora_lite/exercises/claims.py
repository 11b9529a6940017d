"""`claim`: a notebook states a result, and this one line checks it on the run in front of you.

The prose says what the stored run showed ("AdaLoRA finds the planted ranks in all five seeds").
`claim(holds, expected, got)` prints that statement beside what *this* run gave:

    claim(exact == 5, "AdaLoRA finds the planted ranks in all five seeds", f"{exact}/5 seeds")
    ✓ AdaLoRA finds the planted ranks in all five seeds (this run: 5/5 seeds)

A learner who moved a slider or changed a seed may get another result. That is no error: the
line says what differs and why it may, and the notebook goes on (no traceback). Under the test
suite (ADALORA_STRICT_CLAIMS=1, set by conftest.py for every notebook kernel) a claim that does
not hold raises `ClaimFailed`, so the cell fails: the text can never drift from what the code does.
"""
import os

STRICT_ENV = "ADALORA_STRICT_CLAIMS"


class ClaimFailed(AssertionError):
    """A notebook's stated result did not hold on this run, under the test suite."""


def strict():
    """True under the test suite: a claim that fails raises instead of explaining."""
    return os.environ.get(STRICT_ENV, "") == "1"


def claim(holds, expected, got):
    """Print `expected` (what the text says) and `got` (this run); raise under the test suite.

    holds: whether this run shows what the text says; expected: the statement, in the text's
    words; got: what this run gave, as the learner should see it (a short string or a value).
    """
    if holds:
        print(f"✓ {expected} (this run: {got})")
        return
    message = f"The text says: {expected}. This run gave: {got}."
    if strict():
        raise ClaimFailed(message)
    print(f"✗ {message}\n  If you changed a parameter, a seed or a slider above, a different result is "
          "expected: the text describes the run as shipped. Restart the kernel and run all cells "
          "to see that run again.")
