"""How the suite shares out over pytest-xdist workers (`bash dev.sh test` runs `pytest -n auto`).

pyproject's addopts choose `--dist loadfile`; with it, the scheduler below (ours) sends work to the
workers in units:

- A test file is one unit, as under plain `--dist loadfile`: its module fixtures (a JupyterLab
  server, a site build, a trained model) are made once, and a notebook's cells run in one kernel.
- A test that starts its own subprocess and shares nothing with its file (STANDALONE) is a unit of
  its own, so the foreign-numerics groups and the planted-bug notebook runs spread over the workers.
- A free worker takes the longest unit left (LONGEST, measured): a long one started last would keep
  one worker busy while the others idle.

`-n auto` starts one worker per usable CPU, at most MAX_WORKERS. Each worker's kernels and
subprocesses get CPUs / workers threads (OpenMP, MKL, OpenBLAS) unless the environment sets them:
two threads per worker on two busy cores wait for each other (measured: notebooks 02 and 03 under
nbval took 38 s CPU with one thread, 55 s with two). The foreign-numerics pass sets its own three.
"""
import os

import pytest

# Tests that each run their own subprocess (node id prefixes).
STANDALONE = (
    "tests/site/test_foreign_numerics.py::test_notebooks_hold_under_foreign_numeric_kernels[",
    "tests/core/test_planted_bugs.py::test_a_notebook_check_catches_each_bug[",
)

# The longest units (node id prefixes, the first match counts) and their seconds under -n 2 on a
# loaded 2-core machine; other units count 0 and keep xdist's order (most tests first).
LONGEST = {
    "tests/site/test_foreign_numerics.py::test_notebooks_hold_under_foreign_numeric_kernels[07]": 220,
    "tests/site/test_foreign_numerics.py::test_notebooks_hold_under_foreign_numeric_kernels[": 140,
    "notebooks/07_adalora_transformer.ipynb": 124,
    "tests/site/test_browser.py": 94,
    "tests/site/test_site.py": 78,
    "tests/core/test_planted_bugs.py::test_a_notebook_check_catches_each_bug[": 30,
    "notebooks/": 25,
}

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MAX_WORKERS = 4  # each worker runs its own kernels and models (about 1.5 GB at peak)


def usable_cpus():
    """CPUs this process may run on (a container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def expected_seconds(unit):
    return next((s for prefix, s in LONGEST.items() if unit.startswith(prefix)), 0)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    # `-n auto`: one worker per usable CPU. xdist's own count is the physical cores, which is 1 on a
    # 2-vCPU machine whose vCPUs are one core's two threads.
    if "PYTEST_XDIST_AUTO_NUM_WORKERS" in os.environ:
        return None  # xdist reads it
    return min(usable_cpus(), MAX_WORKERS)


def pytest_configure(config):
    workers = getattr(config.option, "numprocesses", None) or 0
    if workers > 1 and "PYTEST_XDIST_WORKER" not in os.environ:  # the controller, before workers start
        threads = str(max(1, usable_cpus() // workers))
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
