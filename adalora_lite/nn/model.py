"""The reference's small MLP and training step, in torch: same constructor, same names.

Exists so the two paths can be compared line by line (and trained side by side in a notebook);
for real models use `add_adapters` on any nn.Module instead.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .inject import add_adapters, orthogonality_loss


class MLP(nn.Module):
    def __init__(self, weights, biases, *, adapter="svd", r, alpha, **adapter_kwargs):
        """weights[k] (d_{k+1}, d_k) and biases[k]: the frozen layers, as arrays or tensors."""
        super().__init__()
        self.layers = nn.ModuleList()
        for w, b in zip(weights, biases):
            w = torch.as_tensor(w)
            linear = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
            with torch.no_grad():
                linear.weight.copy_(w)
                if b is not None:
                    linear.bias.copy_(torch.as_tensor(b))
            self.layers.append(linear)
        names = [f"layers.{k}" for k in range(len(self.layers))]
        self.adapters = add_adapters(self, names, adapter=adapter, r=r, alpha=alpha, **adapter_kwargs)

    def forward(self, x):
        *hidden, last = self.layers
        for layer in hidden:
            x = torch.tanh(layer(x))
        return last(x)


def train_step(model, x, labels, *, lr, gamma=0.0, allocator=None, step=None):
    """One SGD step on the adapters; returns the objective  CE + gamma * mean_k R(P_k, Q_k)."""
    loss = F.cross_entropy(model(x), labels)
    if gamma:
        loss = loss + gamma * orthogonality_loss(model.adapters)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    if allocator is not None:
        allocator.update(step)  # after the step, before the gradients are cleared
    model.zero_grad(set_to_none=True)
    return loss.item()
