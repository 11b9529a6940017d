"""The reference's small MLP and training step, in torch: same constructor, same names.

Exists so the two paths can be compared line by line (and trained side by side in a notebook);
for real models use `add_adapters` on any nn.Module instead.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..reference.model import per_layer
from .inject import add_adapters, orthogonality_loss


class MLP(nn.Module):
    """logits = L_last(tanh(... tanh(L_0(x)))), the reference's MLP as a torch module.

    Its linear layers are named "layers.0", "layers.1", ... as the reference's, so an adapter of
    one side finds its twin on the other by name.
    """

    def __init__(self, weights, biases, *, adapter="svd", r=None, alpha=None, **adapter_kwargs):
        """weights[k] (d_{k+1}, d_k) and biases[k]: the frozen layers, as arrays or tensors.

        adapter: "svd" or "lora" (then r, alpha are required; r one rank, or one per layer), or
        None: the plain network, every parameter trainable, no adapters.
        """
        super().__init__()
        self.layers = nn.ModuleList()
        for w, b in zip(weights, biases):
            w = _tensor(w)
            linear = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
            with torch.no_grad():
                linear.weight.copy_(w)
                if b is not None:
                    linear.bias.copy_(_tensor(b))
            self.layers.append(linear)
        self.adapters = {}
        if adapter is not None:
            names = [f"layers.{k}" for k in range(len(self.layers))]
            ranks = dict(zip(names, per_layer("r", r, len(names))))
            self.adapters = add_adapters(self, names, adapter=adapter, r=ranks, alpha=alpha,
                                         **adapter_kwargs)

    @classmethod
    def from_sizes(cls, sizes, dtype=torch.float64):
        """A plain network of widths `sizes` (input first), PyTorch's default initialisation
        drawn from torch's global generator (seed it first)."""
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:]))
        model.adapters = {}
        return model

    def arrays(self):
        """(weights, biases) of the plain layers as NumPy arrays (copies), (d_out, d_in) and (d_out,)."""
        return (tuple(layer.weight.detach().numpy().copy() for layer in self.layers),
                tuple(layer.bias.detach().numpy().copy() for layer in self.layers))

    def forward(self, x):
        *hidden, last = self.layers
        for layer in hidden:
            x = torch.tanh(layer(x))
        return last(x)


def _tensor(x):
    """A tensor of `x`; a NumPy array is copied (it may be read-only, which torch warns about)."""
    return x if isinstance(x, torch.Tensor) else torch.tensor(np.asarray(x))


def train_step(model, x, labels, *, lr, gamma=0.0, allocator=None, step=None):
    """One SGD step on the adapters, between the allocator's two moments (as reference.train_step);
    returns the objective  CE + gamma * mean_k R(P_k, Q_k)."""
    loss = F.cross_entropy(model(x), labels)
    if gamma:
        loss = loss + gamma * orthogonality_loss(model.adapters)
    loss.backward()
    if allocator is not None:
        allocator.before_optimizer_step(step)
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    if allocator is not None:  # before the gradients are cleared
        allocator.after_optimizer_step(step)
    model.zero_grad(set_to_none=True)
    return loss.item()
