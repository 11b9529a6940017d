"""Recorded benchmark results that the notebooks read, shipped inside the package as data.

    minilm_tweets.json     notebook 07: probe vs LoRA vs AdaLoRA on MiniLM and the tweets
                           (written by `python benchmarks/run.py --only accuracy`)
    init_comparison.json   notebook 08: data-aware initializations (written by
                           `python benchmarks/init_comparison.py`)
    loop_orders.json       notebook 07: the paper's vs PEFT's allocator order on MiniLM (written
                           by `python benchmarks/loop_orders.py`)
    minilm_replay.json     notebook 07 and classroom mode: one AdaLoRA run on MiniLM, step by step,
                           for the replay dashboard (written by `python benchmarks/minilm_replay.py`)
    miniature.json         notebook 09: the paper's experiments in miniature on MiniLM (written by
                           `python benchmarks/miniature.py`)
    planted_transformer.json    notebooks 10 and 11: a MiniLM whose true update is planted
    tweet_update_spectra.json   notebook 10: full fine-tune spectra of both tweet tasks (both
                           written by `python benchmarks/planted_transformer.py`)

    path(name)    where the file lies (inside the installed package; the benchmarks write there)
    load(name)    its JSON, read through importlib.resources (works from a wheel)
    read(name, path=None, how=...)   a recording: `path` if given, else the shipped `name`
    save_runs(path, runs, meta), load_runs(name, path=None, how=...)   the {"meta", "runs"}
                  files the experiments record, written (recording.save) and read one way
    groups(runs, key, order)   the runs grouped by run[key], in `order`, empty groups left out
    std(values)   the sample standard deviation (ddof=1) over seeds; 0 for a single seed
"""
import json
from importlib import resources
from pathlib import Path

from .. import recording
from ..errors import ConfigError

FILES = ("minilm_tweets.json", "init_comparison.json", "loop_orders.json", "minilm_replay.json",
         "miniature.json", "planted_transformer.json", "tweet_update_spectra.json")


def path(name):
    """The file `name` of this package, as a Path (it need not exist yet)."""
    return Path(__file__).resolve().parent / name


def load(name):
    """The JSON recorded in `name`, read as package data."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


def save_runs(path, runs, meta):
    """Write {"meta": meta + the stamp, "runs": runs} to `path` through `recording.save`, the one
    writer of recordings: meta["command"] is the command the stamp names."""
    return recording.save(path, {"runs": runs}, command=meta["command"], meta=meta)


def read(name, path=None, *, how):
    """The JSON of a recording: the file at `path` if given, else the recorded `name` shipped here.
    `how`: the command that makes a missing file, named in the error."""
    if path is None:
        return load(name)
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no recorded results at {path}: run `{how}` to make them")
    return json.loads(path.read_text())


def load_runs(name, path=None, *, how):
    """(meta, runs) of a {"meta", "runs"} file (see `read`)."""
    data = read(name, path, how=how)
    return data["meta"], data["runs"]


def groups(runs, key, order):
    """[(value, [runs with run[key] == value]), ...] for each value of `order` that has runs."""
    out = [(value, [r for r in runs if r[key] == value]) for value in order]
    return [(value, rs) for value, rs in out if rs]


def std(values):
    """Sample standard deviation (ddof=1) of a list of per-seed numbers; 0.0 for one seed."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0
