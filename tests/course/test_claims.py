"""claim(): a note for the learner who changed a parameter, a failing cell under the test suite."""
import pytest

from adalora_lite.exercises import ClaimFailed, claim
from adalora_lite.exercises.claims import STRICT_ENV


def test_a_claim_that_holds_prints_what_the_text_says_and_what_the_run_gave(capsys, monkeypatch):
    for mode in ("0", "1"):  # the same output for a learner and under the suite
        monkeypatch.setenv(STRICT_ENV, mode)
        claim(3 == 3, "the planted rank is found", "rank 3")
        assert capsys.readouterr().out == "✓ the planted rank is found (this run: rank 3)\n"


def test_a_learner_gets_an_explanation_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "0")
    claim(False, "the planted rank is found", "rank 2")
    out = capsys.readouterr().out
    assert out.startswith("✗ The text says: the planted rank is found. This run gave: rank 2.")
    assert "changed a parameter" in out


def test_under_the_suite_a_failed_claim_fails_the_cell(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ClaimFailed, match="This run gave: rank 2"):
        claim(False, "the planted rank is found", "rank 2")
    assert issubclass(ClaimFailed, AssertionError)
