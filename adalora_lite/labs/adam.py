"""The training loop of the digits labs (notebook 03): Adam on what requires grad, reproducible
minibatches, a diverged run stopped early.

    train_adam(model, X, y, steps=..., lr=...)   per-step minibatch losses (inf after a breakdown)

It takes the data, not a task, so that pretraining (before any task exists) and every adapter
experiment run through the same loop (ours).
"""
import numpy as np
import torch
from torch.nn import functional as F

from ..errors import ConfigError, check_int, check_positive
from .common import minibatches, single_thread


def train_adam(model, X, y, *, steps, lr, batch_size=128, seed=0, stop_above=1e3):
    """Adam on every parameter of `model` that requires grad, on minibatches of (X, y): the same
    indices as `DigitsTask.batches(steps, batch_size, seed)` for X = the task's X_train.

    Returns the per-step minibatch losses (steps,). A run whose loss exceeds `stop_above` (or turns
    non-finite) has diverged: it stops there and the rest of the array is inf.
    """
    check_int("steps", steps, low=1)
    check_positive("lr", lr)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no parameter that requires grad: nothing to train")
    opt = torch.optim.Adam(params, lr=lr)
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    losses = np.full(steps, np.inf)
    with single_thread():
        for t, idx in enumerate(minibatches(len(X), steps, batch_size, seed)):
            idx = torch.as_tensor(idx)
            loss = F.cross_entropy(model(X[idx]), y[idx])
            if not torch.isfinite(loss) or loss.item() > stop_above:
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[t] = loss.item()
    return losses
