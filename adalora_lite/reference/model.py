"""A small MLP trained end to end with adapters, in pure NumPy: the reference as a runnable algorithm.

    logits = L_last(tanh(... tanh(L_0(x))))      every L_k an adapter around frozen weights

`train_step` is one training step: forward, backward, the orthogonality regularizer, an SGD step on
the adapters, and the allocator's two moments around the SGD step (what each does is the
allocator's `order`: the paper's Algorithm 1 or the authors' code and PEFT; see
adalora_lite.allocator).
"""
import numpy as np

from ..errors import ConfigError
from ..regularizer import orthogonality_grad, orthogonality_penalty
from .layers import LoRALinear, SVDLinear


class MLP:
    def __init__(self, weights, biases, *, adapter="svd", r, alpha, rng=None, **adapter_kwargs):
        """weights[k] (d_{k+1}, d_k) and biases[k] are the frozen "pretrained" layers.

        r and alpha: one value for every layer, or a sequence with one per layer. The layers draw
        their initial factors from one generator, in layer order.
        """
        cls = {"svd": SVDLinear, "lora": LoRALinear}[adapter]
        rng = np.random.default_rng(rng)
        weights = list(weights)
        ranks, alphas = per_layer("r", r, len(weights)), per_layer("alpha", alpha, len(weights))
        self.layers = {f"layers.{k}": cls(w, b, r=rk, alpha=ak, rng=rng, **adapter_kwargs)
                       for k, (w, b, rk, ak) in enumerate(zip(weights, biases, ranks, alphas))}

    def forward(self, x):
        *hidden, last = self.layers.values()
        self._activations = []  # tanh outputs, kept for backward
        for layer in hidden:
            x = np.tanh(layer.forward(x))
            self._activations.append(x)
        return last.forward(x)

    def backward(self, dlogits):
        *hidden, last = self.layers.values()
        dx = last.backward(dlogits)
        for layer, a in zip(reversed(hidden), reversed(self._activations)):
            dx = layer.backward(dx * (1 - a ** 2))  # tanh' = 1 - tanh^2
        return dx


def per_layer(name, value, n_layers):
    """`value` repeated for `n_layers` layers, or a sequence that already has one per layer."""
    if np.isscalar(value):
        return (value,) * n_layers
    value = tuple(value)
    if len(value) != n_layers:
        raise ConfigError(f"{name} needs one value per layer ({n_layers}), got {value!r}")
    return value


def cross_entropy(logits, labels):
    """Mean cross-entropy of integer `labels` (n,) under `logits` (n, c), and dL/dlogits."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # stable softmax
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_probs[np.arange(n), labels].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1
    return loss, dlogits / n


def train_step(model, x, targets, *, lr, gamma=0.0, allocator=None, step=None, loss_fn=None):
    """One SGD step on the adapters; returns the objective  loss + gamma * mean_k R(P_k, Q_k).

    loss_fn(outputs, targets) -> (loss, dloss/doutputs); cross-entropy on integer labels by default.
    """
    loss, doutputs = (loss_fn or cross_entropy)(model.forward(x), targets)
    model.backward(doutputs)
    svd_layers = [layer for layer in model.layers.values() if isinstance(layer, SVDLinear)]
    if gamma and svd_layers:
        # The regularizer is averaged over layers (as PEFT) so gamma does not grow with depth.
        weight = gamma / len(svd_layers)
        for layer in svd_layers:
            loss += weight * float(orthogonality_penalty(layer.P, layer.Q))
            dP, dQ = orthogonality_grad(layer.P, layer.Q)
            layer.grads["P"] += weight * dP
            layer.grads["Q"] += weight * dQ
    if allocator is not None:
        allocator.before_optimizer_step(step)
    for layer in model.layers.values():
        for name, w in layer.params().items():
            w -= lr * layer.grads[name]  # in place: the allocator sees the updated weights
    if allocator is not None:
        allocator.after_optimizer_step(step)
    return float(loss)
