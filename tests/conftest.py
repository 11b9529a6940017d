"""How the suite shares out over pytest-xdist workers (`bash dev.sh test` runs `pytest -n auto`).

pyproject's addopts choose `--dist loadfile`; with it, the scheduler below (ours) sends work to the
workers in units:

- A test file is one unit, as under plain `--dist loadfile`: its module fixtures (a JupyterLab
  server, a site build, a trained model) are made once, and a notebook's cells run in one kernel.
- A test that starts its own subprocess and shares nothing with its file (STANDALONE) is a unit of
  its own, so the foreign-numerics groups and the planted-bug notebook runs spread over the workers.
- A free worker takes the longest unit left (LONGEST, measured): a long one started last would keep
  one worker busy while the others idle.

Each worker's kernels and subprocesses get cores / workers threads (OpenMP, MKL, OpenBLAS) unless
the environment sets them: two workers on two cores with two threads each make threads wait for
each other. The foreign-numerics pass sets its own three threads.
"""
import os

import pytest

# Tests that each run their own subprocess (node id prefixes).
STANDALONE = (
    "tests/test_foreign_numerics.py::test_notebooks_hold_under_foreign_numeric_kernels[",
    "tests/test_planted_bugs.py::test_a_notebook_check_catches_the_bug[",
)

# The longest units (node id prefixes) and their seconds with 2 workers on 2 cores; others count 0
# and keep xdist's order (most tests first).
LONGEST = {
    "tests/test_foreign_numerics.py::test_notebooks_hold_under_foreign_numeric_kernels[07]": 80,
    "notebooks/07_adalora_transformer.ipynb": 74,
    "tests/test_browser.py": 60,
    "tests/test_foreign_numerics.py::test_notebooks_hold_under_foreign_numeric_kernels[": 60,
    "tests/test_site.py": 40,
    "notebooks/03_lora.ipynb": 30,
    "tests/test_planted_bugs.py::test_a_notebook_check_catches_the_bug[": 10,
    "notebooks/": 20,
    "tests/test_planted_bugs.py": 20,
}

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def expected_seconds(unit):
    return next((s for prefix, s in LONGEST.items() if unit.startswith(prefix)), 0)


def pytest_configure(config):
    workers = getattr(config.option, "numprocesses", None) or 0
    if workers > 1 and "PYTEST_XDIST_WORKER" not in os.environ:  # the controller, before workers start
        threads = str(max(1, len(os.sched_getaffinity(0)) // workers))
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, threads)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, the test extra's
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None  # another --dist given on the command line: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class LongestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return nodeid if nodeid.startswith(STANDALONE) else nodeid.split("::", 1)[0]

        def _assign_work_unit(self, node):
            longest = max(self.workqueue, key=expected_seconds)  # the first of equals
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)
