"""What every benchmark section shares: the command line a section runs under, where its results
go, the stamp and load averages around a measurement, and the statistics it reports.

A section is a module with `NAME`, `add_arguments(parser)` (its own options) and `run(args)`;
`run.py` runs several, `main(section)` runs one alone (`python benchmarks/steptime.py --reps 12`).
Every results file is written by `adalora_lite.recording.save`, so its meta carries the one stamp
(machine, UTC date, command) every recording of the project carries.
"""
import argparse
import os
import statistics
import sys
from pathlib import Path

from adalora_lite import recording

ROOT = Path(__file__).resolve().parents[1]  # the checkout: notebooks/ and benchmarks/
RESULTS = ROOT / "benchmarks" / "results"  # what only RESULTS.md and benchmarks/README.md read

# The Hugging Face models and the tweets are read from the local cache (notebook.env does the same).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def command():
    """The command line this process runs, as the stamp records it."""
    return " ".join(["python", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def load_average():
    """The 1, 5 and 15 minute load averages: above the core count, other work shared the machine."""
    return [round(x, 2) for x in os.getloadavg()]


def start(section, **settings):
    """The meta of a measurement that starts now: its settings and the load average."""
    return {"section": section, **settings, "load_average_at_start": load_average()}


def save(section, meta, content, device="cpu"):
    """Write benchmarks/results/<section>.json: {"meta": meta + load at the end + stamp, **content}."""
    meta = {**meta, "load_average_at_end": load_average()}
    return recording.save(RESULTS / f"{section}.json", content, command=command(), meta=meta,
                          device=device)


def quantiles(xs):
    """Median, quartiles, 95th percentile (linear interpolation between order statistics) and n."""
    xs = sorted(xs)
    if len(xs) == 1:
        return {"median": xs[0], "q1": xs[0], "q3": xs[0], "p95": xs[0], "n": 1}
    quartiles = statistics.quantiles(xs, n=4, method="inclusive")
    p95 = statistics.quantiles(xs, n=20, method="inclusive")[18]
    return {"median": statistics.median(xs), "q1": quartiles[0], "q3": quartiles[2], "p95": p95,
            "n": len(xs)}


def paired_ratio(numerators, denominators):
    """The median of the per-repetition ratios: pairs measured seconds apart, so a slow drift of a
    shared machine cancels in each ratio."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))


def sync(device):
    """Wait for the GPU's queued work (a CPU timer otherwise stops before the GPU does)."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def add_machine_arguments(parser):
    """The options every section that trains shares: the device and torch's thread count."""
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")


def set_up_torch(args):
    """Apply --threads, refuse --device cuda without a GPU."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here")


def main(section):
    """Run one section alone from the command line, then rebuild RESULTS.md."""
    import report

    parser = argparse.ArgumentParser(description=section.__doc__.splitlines()[0])
    add_machine_arguments(parser)
    section.add_arguments(parser)
    args = parser.parse_args()
    set_up_torch(args)
    section.run(args)
    report.write()
