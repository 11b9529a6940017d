"""Recorded benchmark results that the notebooks read, shipped inside the package as data.

    minilm_tweets.json     notebook 07: probe vs LoRA vs AdaLoRA on MiniLM and the tweets
                           (written by `python benchmarks/run.py --only accuracy`)
    init_comparison.json   notebook 08: data-aware initializations (written by
                           `python benchmarks/init_comparison.py`)

    path(name)    where the file lies (inside the installed package; the benchmarks write there)
    load(name)    its JSON, read through importlib.resources (works from a wheel)
"""
import json
from importlib import resources
from pathlib import Path

FILES = ("minilm_tweets.json", "init_comparison.json")


def path(name):
    """The file `name` of this package, as a Path (it need not exist yet)."""
    return Path(__file__).resolve().parent / name


def load(name):
    """The JSON recorded in `name`, read as package data."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
