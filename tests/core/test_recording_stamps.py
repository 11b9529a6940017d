"""Every shipped recording is stamped with its date in one format: ISO 8601, UTC (recording.now)."""
import datetime
import json
from pathlib import Path

import pytest

from adalora_lite import recording

RESULTS = Path(recording.__file__).parent / "results"


def dates(meta):
    """The stamp's date and those of the runs appended later."""
    yield meta["date"]
    for added in meta.get("appended", []):
        yield added["date"]


def test_now_is_iso_utc_to_the_second():
    stamp = datetime.datetime.fromisoformat(recording.now())
    assert stamp.utcoffset() == datetime.timedelta(0) and stamp.microsecond == 0


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_shipped_recording_dates_are_iso_utc(path):
    meta = json.loads(path.read_text())["meta"]
    for date in dates(meta):
        stamp = datetime.datetime.fromisoformat(date)  # ValueError on "2026-11-23 14:34 UTC"
        assert stamp.utcoffset() == datetime.timedelta(0), f"{path.name}: {date} is not UTC"
