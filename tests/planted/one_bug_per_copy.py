"""A pytest plugin for tests/core/test_planted_bugs.py: nbval on copies of one notebook, one folder per bug
(`<dir>/<bug>/<notebook>`), in one pytest process (one start-up instead of one per bug).

- Each copy's kernel starts with its folder's bug planted: nbval starts a notebook's kernel while
  setting up its first cell, from this process's environment, where PLANTED_BUG is set just before
  (tests/planted/sitecustomize.py plants it in the kernel).
- A copy stops at its first failing cell (its later cells are skipped), as `pytest -x` stops a run
  of one notebook.
- At the end the first failing cell of each copy, and nbval's report of it, go as JSON
  ({bug: {"cell": index, "report": text}}) to the file named by PLANTED_REPORT.
"""
import json
import os
import re
from pathlib import Path

import pytest

FIRST_FAILURE = {}  # bug -> {"cell": index of the code cell, "report": nbval's text}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    bug = item.path.parent.name
    if bug in FIRST_FAILURE:
        pytest.skip(f"an earlier cell failed with {bug!r} planted")
    os.environ["PLANTED_BUG"] = bug


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    bug = item.path.parent.name
    if report.failed and bug not in FIRST_FAILURE:
        cell = re.fullmatch(r"Cell (\d+)", item.name)
        FIRST_FAILURE[bug] = {"cell": int(cell.group(1)) if cell else None,
                              "report": report.longreprtext}
    return report


def pytest_sessionfinish(session):
    Path(os.environ["PLANTED_REPORT"]).write_text(json.dumps(FIRST_FAILURE, indent=1))
