"""Put adapters into any torch model by target module names; freeze the rest; merge and unmerge.

A target matches a module whose name is the target or ends with "." + target, PEFT's rule:
"query" matches "encoder.layer.0.attention.self.query". Beware bare names: "dense" also matches
BERT's pooler, which the loss may never reach (the allocator then warns instead of crashing).
"""
from torch import nn

from ..allocator import warn_if_budget_not_applied
from ..errors import ConfigError
from ..regularizer import orthogonality_penalty
from .layers import LoRALinear, PrunableLoRALinear, SVDLinear, _Adapter

ADAPTERS = {"lora": LoRALinear, "prunable_lora": PrunableLoRALinear, "svd": SVDLinear}


def add_adapters(model, target_modules, *, adapter="svd", r, alpha, modules_to_train=(),
                 **adapter_kwargs):
    """Wrap every nn.Linear named by `target_modules`; only adapter parameters stay trainable,
    plus the modules named in `modules_to_train` (e.g. a new "classifier" head), trained fully.

    `r` is one rank for all, or {target: rank} (the first matching target gives a module's rank).
    Adapters added by an earlier call stay trainable. Returns {module name: adapter}, in the
    model's module order.
    """
    if adapter not in ADAPTERS:
        raise ConfigError(f"adapter must be one of {sorted(ADAPTERS)}, got {adapter!r}")
    targets, to_train = _as_list(target_modules), _as_list(modules_to_train)
    names = [name for name, module in model.named_modules()
             if _matches(name, targets) and not _inside_adapter(model, name)]
    if not names:
        linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][:8]
        raise ConfigError(f"target_modules {targets} match no module of the model; "
                          f"nn.Linear modules include {linear}")
    earlier = [p for a in find_adapters(model).values() for p in a.parameters() if p.requires_grad]
    model.requires_grad_(False)
    for p in earlier:
        p.requires_grad_(True)
    for name, module in model.named_modules():
        if _matches(name, to_train):
            module.requires_grad_(True)
    adapters = {}
    for name in names:
        base = model.get_submodule(name)
        if not isinstance(base, nn.Linear):
            raise ConfigError(f"target {name!r} is a {type(base).__name__}; only nn.Linear can be adapted")
        rank = _rank_for(name, r)
        adapters[name] = ADAPTERS[adapter](base, r=rank, alpha=alpha, **adapter_kwargs)
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, adapters[name])
    return adapters


def find_adapters(model):
    """{module name: adapter} of every adapter already in `model`."""
    return {name: m for name, m in model.named_modules() if isinstance(m, _Adapter)}


def merge_adapters(model):
    adapters = find_adapters(model)
    warn_if_budget_not_applied(adapters, "merging")
    for adapter in adapters.values():
        adapter.merge()


def unmerge_adapters(model):
    for adapter in find_adapters(model).values():
        adapter.unmerge()


def trainable_parameter_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def orthogonality_loss(adapters):
    """mean_k R(P_k, Q_k) over the SVD adapters: add gamma * this to the training loss."""
    svd = [a for a in adapters.values() if isinstance(a, SVDLinear)]
    if not svd:
        raise ConfigError("orthogonality_loss needs at least one SVDLinear adapter, got none")
    return sum(orthogonality_penalty(a.P, a.Q) for a in svd) / len(svd)


def _rank_for(name, r):
    if not isinstance(r, dict):
        return r
    for target, rank in r.items():
        if _matches(name, [target]):
            return rank
    raise ConfigError(f"r gives no rank for module {name!r}; its keys are {sorted(r)}")


def _as_list(names):
    return [names] if isinstance(names, str) else list(names)


def _matches(name, targets):
    return any(name == t or name.endswith("." + t) for t in targets)


def _inside_adapter(model, name):
    parent = name.rpartition(".")[0]
    while parent:
        if isinstance(model.get_submodule(parent), _Adapter):
            return True
        parent = parent.rpartition(".")[0]
    return False
