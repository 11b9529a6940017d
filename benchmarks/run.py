"""adalora-lite benchmarks: run the chosen sections, then rebuild benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py                       # the speed goals: steptime allocator browser_latency
    .venv/bin/python benchmarks/run.py --reps 12 --only steptime allocator
    .venv/bin/python benchmarks/run.py --only accuracy --seeds 0 1 2   # rewrites notebook 07's data
    .venv/bin/python benchmarks/run.py --only notebooks
    .venv/bin/python benchmarks/run.py --render-only         # RESULTS.md from the JSON files

Each section is a file of its own, runnable alone (its docstring says what it measures):

    steptime         one MiniLM training step: our LoRA and AdaLoRA vs PEFT's    steptime.py
    allocator        a masking round of our RankAllocator vs PEFT's               allocator.py
    browser_latency  slider move to redrawn figure in JupyterLab + Chromium       browser_latency.py
    accuracy         notebook 07's probe / LoRA / AdaLoRA comparison over seeds   accuracy.py
    notebooks        wall and CPU time of every notebook under strict nbval      notebooks.py

Each writes benchmarks/results/<section>.json (accuracy: the package data
adalora_lite/results/minilm_tweets.json); RESULTS.md is rebuilt from all of them (report.py).
"""
import argparse
import sys

import accuracy
import allocator
import browser_latency
import notebooks
import report
import steptime
import timing

SECTIONS = {module.NAME: module for module in (steptime, allocator, browser_latency, accuracy, notebooks)}
# What a plain `run.py` measures: the speed goals of issue 20. accuracy (35 minutes, and it rewrites
# the data notebook 07 shows) and notebooks (every notebook under nbval) run only when named.
DEFAULT = ("steptime", "allocator", "browser_latency")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(DEFAULT))
    parser.add_argument("--render-only", action="store_true", help="rebuild RESULTS.md from the JSON files")
    timing.add_machine_arguments(parser)
    for module in SECTIONS.values():
        module.add_arguments(parser.add_argument_group(module.NAME))
    args = parser.parse_args()
    if not args.render_only:
        timing.set_up_torch(args)
        for name in args.only:
            print(f"[{name}]", file=sys.stderr, flush=True)
            SECTIONS[name].run(args)
            report.write()
    report.write()
    print((timing.ROOT / "benchmarks" / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
