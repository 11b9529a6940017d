"""A small, honest fine-tuning task on scikit-learn's digits, for the NumPy reference (notebooks 04, 05).

"Pretraining": a tanh MLP 64 -> hidden -> 10 is trained (scikit-learn's MLPClassifier, fixed seed) on
*mirrored* digits (every 8x8 image flipped left-right). Its weights are then frozen.
"Fine-tuning": the target task is the ordinary, upright digits. The frozen network gets only about
half of them right, so its adapters have real work to do, and the work is low-rank-ish: the same
features are needed, seen in a mirror.

    mirror_digits(X)                    flip every 8x8 image (rows of X) left-right
    mirrored_digits_task(hidden, seed)  -> DigitsTask (cached: pretraining runs once per process)
    DigitsTask.batches(steps, batch_size, seed)   reproducible minibatch indices
    DigitsTask.accuracy(model), .loss(model)      on the upright test / train split
"""
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .data import load_digits_split
from .reference import cross_entropy
from .threads import single_thread



def mirror_digits(X):
    """X (n, 64) of 8x8 images, each flipped left-right (a copy)."""
    X = np.asarray(X)
    return X.reshape(-1, 8, 8)[:, :, ::-1].reshape(X.shape).copy()


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so it can key caches
class DigitsTask:
    weights: tuple  # frozen "pretrained" weights, (d_out, d_in) each, read-only
    biases: tuple
    X_train: np.ndarray  # (n, 64) upright digits in [0, 1]: the target task
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source_accuracy: float  # the pretrained network on mirrored test digits (its own task)
    start_accuracy: float  # the same network on upright test digits, before any adaptation

    @property
    def dims(self):
        """Layer widths, input first: (64, hidden, 10)."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    def batches(self, steps, batch_size=64, seed=0):
        """`steps` arrays of `batch_size` training indices (without replacement within a batch)."""
        rng = np.random.default_rng(seed)
        n = len(self.X_train)
        return [rng.choice(n, batch_size, replace=False) for _ in range(steps)]

    def accuracy(self, model, split="test"):
        X, y = self._split(split)
        return float((model.forward(X).argmax(axis=1) == y).mean())

    def loss(self, model, split="train"):
        """Mean cross-entropy of `model` on a whole split (no regularizer)."""
        X, y = self._split(split)
        return float(cross_entropy(model.forward(X), y)[0])

    def _split(self, split):
        if split == "test":
            return self.X_test, self.y_test
        if split == "train":
            return self.X_train, self.y_train
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


@lru_cache(maxsize=4)
@single_thread()
def mirrored_digits_task(hidden=32, seed=0):
    """Pretrain on mirrored digits (about a second), freeze, and return the upright-digits task."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X_train, X_test, y_train, y_test = load_digits_split()
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="tanh", max_iter=300,
                        random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 300 epochs is plenty here
        clf.fit(mirror_digits(X_train), y_train)
    weights = tuple(_frozen(c.T) for c in clf.coefs_)  # sklearn stores (d_in, d_out)
    biases = tuple(_frozen(b) for b in clf.intercepts_)
    return DigitsTask(weights=weights, biases=biases, X_train=_frozen(X_train),
                      y_train=_frozen(y_train), X_test=_frozen(X_test), y_test=_frozen(y_test),
                      source_accuracy=float(clf.score(mirror_digits(X_test), y_test)),
                      start_accuracy=float(clf.score(X_test, y_test)))


def _frozen(a):
    a = np.array(a)  # a contiguous copy
    a.flags.writeable = False
    return a
