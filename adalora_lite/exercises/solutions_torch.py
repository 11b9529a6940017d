"""The reference solution of notebook 03's LoRA-layer exercise, a torch module (checked by
adalora_lite.exercises.build). The NumPy solutions are in solutions.py."""
import torch
from torch import nn


class LoRAModule(nn.Module):
    """h = W0 x + b + (alpha/r) B A x around a frozen nn.Linear (notebook 03)."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base.requires_grad_(False)
        d_out, d_in = base.weight.shape
        self.A = nn.Parameter(torch.empty(r, d_in, dtype=base.weight.dtype))  # (r, d_in)
        nn.init.uniform_(self.A, -d_in ** -0.5, d_in ** -0.5)  # Kaiming-uniform, as loralib and PEFT
        self.B = nn.Parameter(torch.zeros(d_out, r, dtype=base.weight.dtype))  # (d_out, r): zero
        self.scale = alpha / r

    def forward(self, x):  # x (n, d_in)
        return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T  # (n, d_out)
