"""Wall and CPU time of every notebook under strict nbval, one notebook at a time.

    .venv/bin/python benchmarks/notebooks.py

`python -m pytest notebooks/NN.ipynb` per notebook (pyproject's options: --nbval, the current
environment, the sanitize file); CPU time is the children's user + system time (kernel and pytest).
"""
import resource
import subprocess
import sys
import time

import timing

NAME = "notebooks"


def add_arguments(parser):
    pass  # no options: every notebook, each run once


def run(args):
    meta = timing.start(NAME)
    rows = {}
    for notebook in sorted((timing.ROOT / "notebooks").glob("*.ipynb")):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(notebook.relative_to(timing.ROOT))], cwd=timing.ROOT,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        rows[notebook.name] = {"wall_s": wall, "cpu_s": cpu, "passed": proc.returncode == 0,
                               "pytest": summary}
        print(f"  {notebook.name}: {wall:.1f} s wall, {cpu:.1f} s CPU, {summary}", file=sys.stderr,
              flush=True)
    timing.save(NAME, meta, {"notebooks": rows})


if __name__ == "__main__":
    timing.main(sys.modules[__name__])
