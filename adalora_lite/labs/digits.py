"""The frozen digits networks that notebooks 03-05 adapt, as one task type.

A small tanh MLP is "pretrained" on a variant of scikit-learn's digits and frozen; the target task
is the ordinary ten digits, which the frozen network gets largely wrong, so its adapters have real
work to do. Two pretrainings, one `DigitsTask`:

    mirrored_digits_task(hidden, seed)   notebooks 04, 05: 64 -> 32 -> 10 trained (scikit-learn's
                                         MLPClassifier, fixed seed) on *mirrored* digits (every 8x8
                                         image flipped left-right): about half right upright
    lora.digits_lora_task(...)           notebook 03: 64 -> 64 -> 64 -> 10 trained with Adam on the
                                         digits 0-4 only: none of 5-9 right

    DigitsTask.batches(steps, batch_size, seed)   reproducible minibatch indices
    DigitsTask.accuracy(model), .loss(model)      on the test / train split (NumPy or torch model)
    DigitsTask.torch_model(), .reference_model(), .lora_model()   the frozen network, both paths
    predict(model, X)                    logits as NumPy, from a torch module or a reference MLP
"""
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from .. import reference
from ..data import load_digits_split, mirror_digits
from ..errors import ConfigError
from .common import memoize, minibatches, read_only, single_thread

# torch is imported by the methods that build torch models, not here: notebooks 04-06 use only the
# NumPy side (see common.single_thread).


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so it can key caches
class DigitsTask:
    weights: tuple  # frozen "pretrained" weights, (d_out, d_in) each, read-only
    biases: tuple
    X_train: np.ndarray  # (n, 64) upright digits in [0, 1]: the target task
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source_accuracy: float = None  # the pretrained network on its own task's test digits
    start_accuracy: float = None  # the same network on the target's test digits, before adapting

    @property
    def sizes(self):
        """Layer widths, input first: e.g. (64, 32, 10)."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    def batches(self, steps, batch_size=64, seed=0):
        """`steps` arrays of `batch_size` training indices (without replacement within a batch)."""
        return minibatches(len(self.X_train), steps, batch_size, seed)

    def mirrored(self):
        """The same frozen network and labels, every image flipped left-right: a second task for
        a second adapter."""
        return DigitsTask(self.weights, self.biases, mirror_digits(self.X_train), self.y_train,
                          mirror_digits(self.X_test), self.y_test)

    def frozen_logits(self, X):
        """The pretrained network's logits in NumPy, the reference's exact arithmetic without adapters."""
        *hidden, last = zip(self.weights, self.biases)
        for w, b in hidden:
            X = np.tanh(X @ w.T + b)
        return X @ last[0].T + last[1]

    def torch_model(self):
        """A fresh copy of the pretrained network as a torch module, every parameter frozen."""
        from ..nn import MLP as TorchMLP

        return TorchMLP(self.weights, self.biases, adapter=None).requires_grad_(False)

    def lora_model(self, *, r, alpha, scaling="alpha/r", seed=0):
        """(model, adapters): the pretrained network with LoRA on every layer; A drawn after
        torch.manual_seed(seed), B = 0 (see `lora_scale.add_lora`)."""
        import torch

        from .lora_scale import add_lora

        model = self.torch_model()
        torch.manual_seed(seed)
        return model, add_lora(model, r=r, alpha=alpha, scaling=scaling)

    def reference_model(self, *, r, alpha, seed=0):
        """The NumPy reference MLP with LoRA adapters (r <= the head's width)."""
        return reference.MLP(self.weights, self.biases, adapter="lora", r=r, alpha=alpha,
                             rng=np.random.default_rng(seed))

    def split(self, split="test", classes=None):
        """(X, y) of a split, optionally only the rows whose label is in `classes`."""
        if split not in ("train", "test"):
            raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
        X, y = (self.X_test, self.y_test) if split == "test" else (self.X_train, self.y_train)
        if classes is not None:
            keep = np.isin(y, classes)
            X, y = X[keep], y[keep]
        return X, y

    def accuracy(self, model, split="test", classes=None):
        """Fraction right on a split (optionally only the digits in `classes`)."""
        X, y = self.split(split, classes)
        return float((predict(model, X).argmax(axis=1) == y).mean())

    def loss(self, model, split="train"):
        """Mean cross-entropy of `model` on a whole split (no regularizer)."""
        X, y = self.split(split)
        return float(reference.cross_entropy(predict(model, X), y)[0])


def predict(model, X):
    """Logits (n, 10) as a NumPy array, from a torch module or a reference MLP."""
    torch = sys.modules.get("torch")  # a torch module exists only once torch has been imported
    if torch is not None and isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(torch.as_tensor(X)).numpy()
    return model.forward(X)


@memoize(maxsize=4)
@single_thread(torch=False)  # scikit-learn's MLP: NumPy only
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
    weights = tuple(read_only(c.T) for c in clf.coefs_)  # sklearn stores (d_in, d_out)
    biases = tuple(read_only(b) for b in clf.intercepts_)
    return DigitsTask(weights=weights, biases=biases, X_train=read_only(X_train),
                      y_train=read_only(y_train), X_test=read_only(X_test), y_test=read_only(y_test),
                      source_accuracy=float(clf.score(mirror_digits(X_test), y_test)),
                      start_accuracy=float(clf.score(X_test, y_test)))
