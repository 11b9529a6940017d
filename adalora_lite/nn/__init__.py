"""The PyTorch path: the same adapters as `adalora_lite.reference`, as nn.Modules for real models."""
from .inject import (add_adapters, find_adapters, merge_adapters, orthogonality_loss,
                     trainable_parameter_count, unmerge_adapters)
from .io import load_adapters, save_adapters
from .layers import LoRALinear, PrunableLoRALinear, SVDLinear
from .model import MLP, train_step

__all__ = ["LoRALinear", "PrunableLoRALinear", "SVDLinear", "add_adapters", "find_adapters", "merge_adapters",
           "unmerge_adapters", "trainable_parameter_count", "orthogonality_loss",
           "save_adapters", "load_adapters", "MLP", "train_step"]
