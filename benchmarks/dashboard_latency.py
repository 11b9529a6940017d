"""How fast does notebook 06's dashboard answer a move of its step slider?

Builds the dashboard (default parameters: the planted-rank task, T = 1000 steps), then moves the
step slider to N random steps and times each move: the observer, both figure updates and the
messages they queue (the Python side of an update; the browser's redraw comes on top, and
`browser_latency.py` measures both). Also times one fresh recording and one served by the cache (what a move of r, alpha, beta or the
budget costs).

    .venv/bin/python benchmarks/dashboard_latency.py [--n 100] [--seed 0]
"""
import argparse
import time

from adalora_lite import recording
from adalora_lite.labs import budget as tr
from adalora_lite.widgets.budget import BudgetDashboard


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="step-slider moves to time")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    tr.cache_clear()
    start = time.perf_counter()
    dash = BudgetDashboard(progress=False)
    built = time.perf_counter() - start
    dash.time_step_updates(n=10, seed=args.seed + 1)  # warm-up: first plotly validations
    timing = dash.time_step_updates(n=args.n, seed=args.seed)

    start = time.perf_counter()
    dash.budget_slider.value = 10  # a new parameter set: records anew
    fresh = time.perf_counter() - start
    start = time.perf_counter()
    dash.budget_slider.value = 12  # back to the first: the cache answers
    cached = time.perf_counter() - start

    where = recording.machine()
    print(f"machine: {where['cpu']}, {where['cores']} CPU cores, Python {where['python']}")
    print(f"dashboard built (incl. first recording): {built * 1e3:.0f} ms")
    print(f"step-slider update over {timing['n']} moves: median {timing['median_ms']:.2f} ms, "
          f"p95 {timing['p95_ms']:.2f} ms (aim: < 50 ms)")
    print(f"target-budget move, new recording: {fresh * 1e3:.0f} ms; "
          f"back to a cached one: {cached * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
