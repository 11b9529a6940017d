"""Notebook 07: fine-tune MiniLM on a text classification split: uniform LoRA, AdaLoRA, or a linear probe.

One loop for every method, so that they differ only where the methods differ:

    lora      LoRALinear (rank r) on the 36 attention/FFN matrices (6 layers x 6) + a new classifier head
    adalora   SVDLinear (rank init_r) on the same matrices + the head; a RankAllocator shrinks the
              total rank from 36 * init_r to the budget 36 * r; loss + gamma * orthogonality
    probe     frozen encoder, only the head is trained: the floor every adapter must beat
    svd       SVDLinear (rank r) with the regularizer and no allocator: the SVD form, unpruned.
              The paper's "SVD-LoRA" (§4.4, Table 5): "fine-tuning only with the proposed
              SVD-based adaptation in (3) and (4)", (4) being the orthogonality regularizer, so
              it keeps gamma and differs from AdaLoRA by the pruning alone
    prune_lora  PrunableLoRALinear (init_r doublets) pruned to 36 * r by the allocator: the
              paper's "Prune LoRA" (§3.1, §4.4, Table 4)

`placement` adapts a subset of the 36 matrices (the paper's Fig. 1): "attention", "ffn", the
"bottom" 3 layers or the "top" 3; `score` picks the allocator's S_i (`allocator.SCORES`).

"Matched budget" follows the paper: LoRA's rank r on every matrix and AdaLoRA's *final* budget
spend the same total rank (36 * r triplets); AdaLoRA starts from init_r = 1.5 r per matrix and
prunes down to it. `FinetuneResult` records both parameter counts (trained, and kept at the end).

How much higher to start: §4.1 sets "b(0) as 1.5 times of b(T)" (so does §3.3, "e.g."), which is
our default (init_r 6 for r 4). Appendix C.1 instead picks the initial rank "from {4, 6, 12} for the
final average rank {2, 4, 8}": 2x at the smallest budget, 1.5x at the others; the authors' GLUE
scripts (github.com/QingruZhang/AdaLoRA, NLU/scripts at d10f5eb) run `--lora_r 2 --target_rank 1`
(2x) or `--lora_r 3 --target_rank 1` (3x, MNLI and CoLA). Which matrices: §3.2 lists five per layer
(W_q, W_k, W_v, W_f1, W_f2); the authors' scripts adapt six,
`--lora_module query,key,value,intermediate,layer.output,attention.output` (W_o too), as we do here.

The training step (see `train_step`):

    loss = model(**batch, labels=y).loss + gamma * orthogonality_loss(adapters)
    loss.backward()
    allocator.before_optimizer_step(step)
    optimizer.step()
    allocator.after_optimizer_step(step)   # before the gradients are cleared
    optimizer.zero_grad()

What the two moments do is the allocator's `order` (adalora_lite.allocator): the authors' code and
PEFT score after the step; the paper's Algorithm 1 scores before it (lines 4-6) and masks the
updated lambdas with those scores (line 8). `FinetuneConfig(order="paper")` runs that order;
`loop_orders_planted` and `compare_loop_orders` measure how much the two differ.

Texts are tokenized once (truncated to `max_length`), then padded per batch to its longest text.
"""
import math
import re
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .. import results as recorded_results
from ..allocator import ORDERS, SCORES, check_order
from ..errors import ConfigError
from .common import read_only
from .rank import adapter_param_count

METHODS = ("probe", "lora", "prune_lora", "svd", "adalora")
PRUNED = ("prune_lora", "adalora")  # the methods a RankAllocator prunes
PLACEMENTS = ("all", "attention", "ffn", "bottom", "top")


@dataclass(frozen=True)
class FinetuneConfig:
    method: str = "adalora"          # one of METHODS
    r: int = 4                       # LoRA rank; AdaLoRA's target *average* rank (budget 36 r)
    init_r: int = 6                  # AdaLoRA's initial rank per matrix: 1.5 r, as §4.1 (see above)
    scale: float = 2.0               # alpha / r for both adapters
    epochs: float = 2.0              # passes over the training set (a fraction is allowed)
    batch_size: int = 32
    lr: float = 1e-3                 # AdamW, linear warm-up over 10% of the steps, then linear decay
    weight_decay: float = 0.0
    max_length: int = 64             # tokens per text (tweets: median 31, 99% under 56)
    gamma: float = 0.1               # orthogonality regularizer weight (AdaLoRA only)
    warmup_fraction: float = 0.2     # AdaLoRA: steps before the first masking (t_i), as a fraction
    final_fraction: float = 0.2      # AdaLoRA: steps with the allocation frozen (t_f)
    mask_interval: int = 5           # AdaLoRA: re-rank every this many steps (Delta T)
    beta1: float = 0.85
    beta2: float = 0.85
    init: str = "orthogonal"         # SVDLinear init of P, Q ("gaussian": PEFT's N(0, 0.02^2))
    probe_steps: int = 300           # probe: full-batch AdamW steps on cached features
    probe_lr: float = 1e-2
    seed: int = 0                    # head init, adapter init, dropout, batch order
    order: str = "peft"              # AdaLoRA: what the allocator's two moments do (allocator.ORDERS)
    score: str = "importance"        # AdaLoRA, Prune LoRA: the allocator's S_i (allocator.SCORES)
    placement: str = "all"           # which matrices get adapters (PLACEMENTS, see placement_targets)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        check_order(self.order)
        if self.score not in SCORES:
            raise ConfigError(f"score must be one of {SCORES}, got {self.score!r}")
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if self.method in PRUNED and self.init_r < self.r:
            raise ConfigError(f"init_r must be >= r (AdaLoRA only prunes), got {self.init_r} < {self.r}")
        if self.epochs <= 0 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be positive, got {self.epochs}, {self.batch_size}")

    def total_steps(self, n_train):
        return max(1, math.ceil(self.epochs * n_train / self.batch_size))


@dataclass
class FinetuneResult:
    method: str
    seed: int
    accuracy: float                  # held-out accuracy after training
    trained_parameters: int          # parameters the optimizer updates (adapters + head)
    final_adapter_parameters: int    # adapter parameters still in use at the end (kept triplets)
    total_rank: int                  # sum of the ranks at the end
    ranks: dict                      # {module name: final rank} (empty for the probe)
    losses: list                     # training loss (cross-entropy) per step
    steps: int
    wall_s: float
    cpu_s: float
    config: dict = field(default_factory=dict)

    def summary(self):
        return {k: v for k, v in asdict(self).items() if k not in ("losses", "ranks", "config")}


# ------------------------------------------------------------------------------------ data
def encode(tokenizer, texts, max_length=64):
    """Token ids of every text, truncated, unpadded: a list of lists of ints."""
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def collate(ids, pad_id=0):
    """Pad a list of token-id lists to the longest: {input_ids, attention_mask} (n, L) tensors."""
    import torch

    longest = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), longest), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, :len(x)] = torch.as_tensor(x)
        mask[i, :len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def batch_order(n, batch_size, steps, rng):
    """`steps` index batches: reshuffled every epoch, the last short batch of an epoch dropped
    unless the epoch is smaller than one batch."""
    per_epoch = max(1, n // batch_size)
    out = []
    while len(out) < steps:
        perm = rng.permutation(n)
        out += [perm[k * batch_size:(k + 1) * batch_size] for k in range(per_epoch)]
    return out[:steps]


# ------------------------------------------------------------------------------------ model
def build_model(config, n_train, *, num_labels=2):
    """(model, tokenizer, adapters, allocator) for `config`, seeded; allocator None unless adalora."""
    import torch

    from ..data import load_minilm
    from ..nn import add_adapters

    torch.manual_seed(config.seed)
    model, tokenizer = load_minilm(num_labels=num_labels)
    adapters, allocator = {}, None
    if config.method == "probe":
        model.requires_grad_(False)
        model.classifier.requires_grad_(True)
        return model, tokenizer, adapters, allocator
    rank = config.init_r if config.method in PRUNED else config.r
    kind = {"lora": "lora", "prune_lora": "prunable_lora"}.get(config.method, "svd")
    extra = {"init": config.init} if kind == "svd" else {}
    adapters = add_adapters(model, placement_targets(config.placement), adapter=kind, r=rank,
                            alpha=config.scale * rank, modules_to_train="classifier", **extra)
    if config.method in PRUNED:
        allocator = make_allocator(adapters, config, config.total_steps(n_train))
    return model, tokenizer, adapters, allocator


def placement_targets(placement="all"):
    """The target names (for `add_adapters`) of a placement: "all" (MINILM_TARGETS, 36 matrices),
    "attention" (24: query, key, value, attention output), "ffn" (12: intermediate, output), or
    every matrix of the "bottom" (0-2) or "top" (3-5) layers (18 each)."""
    from ..data import MINILM_TARGETS

    if placement == "all":
        return list(MINILM_TARGETS)
    layers = {"bottom": range(3), "top": range(3, 6)}.get(placement, range(6))
    keep = {"attention": lambda label: label not in FFN, "ffn": lambda label: label in FFN}.get(
        placement, lambda label: True)
    # "layer.i.output.dense" names the FFN's output only: the attention's ends in "attention.output.dense"
    return [f"layer.{i}.{path}" for i in layers for path, label in MODULES if keep(label)]


def make_allocator(adapters, config, total_steps):
    """The RankAllocator for `config`: budget 36 * r, warm-up and final phases as fractions."""
    from ..allocator import RankAllocator

    warmup = int(config.warmup_fraction * total_steps)
    final = int(config.final_fraction * total_steps)
    if warmup + final >= total_steps:
        raise ConfigError(f"{total_steps} steps leave no room for the budget to shrink "
                          f"(warm-up {warmup} + final {final}); train longer or shorten the phases")
    return RankAllocator(adapters, target_budget=config.r * len(adapters), total_steps=total_steps,
                         warmup_steps=warmup, final_steps=final,
                         mask_interval=config.mask_interval, beta1=config.beta1, beta2=config.beta2,
                         score=config.score, seed=config.seed, order=config.order)


def train_step(model, batch, labels, optimizer, *, step, adapters=None, gamma=0.0,
               allocator=None, scheduler=None):
    """One AdamW step between the allocator's two moments (what each does is the allocator's
    `order`, see adalora_lite.allocator); returns the cross-entropy (without the regularizer)."""
    from ..nn import orthogonality_loss

    loss = model(**batch, labels=labels).loss
    objective = loss + gamma * orthogonality_loss(adapters) if gamma and adapters else loss
    objective.backward()
    if allocator is not None:
        allocator.before_optimizer_step(step)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    if allocator is not None:  # before zero_grad(), which would erase the gradients it scores
        allocator.after_optimizer_step(step)
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def warmup_linear(total_steps, warmup_fraction=0.1):
    """LR multiplier: linear warm-up to 1 over the first steps, then linear decay to 0."""
    warm = max(1, int(warmup_fraction * total_steps))
    return lambda k: (k + 1) / warm if k < warm else max(0.0, (total_steps - k) / max(1, total_steps - warm))


def evaluate(model, ids, labels, *, batch_size=128):
    """Accuracy of `model` on pre-encoded texts; batches sorted by length to pad little."""
    import torch

    order = np.argsort([len(x) for x in ids], kind="stable")
    preds = np.empty(len(ids), dtype=np.int64)
    model.eval()
    with torch.no_grad():
        for k in range(0, len(ids), batch_size):
            idx = order[k:k + batch_size]
            logits = model(**collate([ids[i] for i in idx])).logits
            preds[idx] = logits.argmax(-1).numpy()
    return float((preds == np.asarray(labels)).mean())


# ------------------------------------------------------------------------------------ training
def finetune(config, split, *, progress=True, model_parts=None, on_step=None):
    """Train `config.method` on `split` (a `tweets.TweetSplit`), evaluate on its test set.

    model_parts: optional (model, tokenizer, adapters, allocator) from `build_model` (to inspect
    them afterwards); built here otherwise. on_step: optional callable(step, adapters, allocator)
    run after every training step (to record a run). Returns a `FinetuneResult`.
    """
    import torch
    from tqdm.auto import tqdm

    if config.method == "probe":
        return linear_probe(config, split, progress=progress)
    n_train = len(split.train_texts)
    model, tokenizer, adapters, allocator = model_parts or build_model(
        config, n_train, num_labels=len(split.label_names))
    train_ids = encode(tokenizer, split.train_texts, config.max_length)
    test_ids = encode(tokenizer, split.test_texts, config.max_length)
    steps = config.total_steps(n_train)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(steps))
    gamma = config.gamma if config.method in ("svd", "adalora") else 0.0
    rng = np.random.default_rng(config.seed)
    labels = torch.as_tensor(split.train_labels)
    losses, wall, cpu = [], time.perf_counter(), time.process_time()
    model.train()
    bar = tqdm(batch_order(n_train, config.batch_size, steps, rng), desc=f"{config.method} (seed {config.seed})",
               disable=not progress, unit="step")
    for step, idx in enumerate(bar, start=1):
        losses.append(train_step(model, collate([train_ids[i] for i in idx]), labels[idx], optimizer,
                                 step=step, adapters=adapters, gamma=gamma, allocator=allocator,
                                 scheduler=scheduler))
        if on_step is not None:
            on_step(step, adapters, allocator)
    bar.close()
    accuracy = evaluate(model, test_ids, split.test_labels)
    ranks = allocator.ranks() if allocator is not None else {n: a.r for n, a in adapters.items()}
    return FinetuneResult(
        method=config.method, seed=config.seed, accuracy=accuracy,
        trained_parameters=sum(p.numel() for p in trainable),
        final_adapter_parameters=adapter_parameters(adapters, ranks),
        total_rank=sum(ranks.values()), ranks=ranks, losses=losses, steps=steps,
        wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu, config=asdict(config))


def adapter_parameters(adapters, ranks):
    """Adapter parameters in use at rank `ranks[name]`: r (d_in + d_out) for LoRA, r (d_in + d_out + 1)
    for SVD triplets (P column, lambda, Q row)."""
    from ..nn import SVDLinear

    return sum(adapter_param_count(a.d_out, a.d_in, ranks[n], "svd" if isinstance(a, SVDLinear) else "lora")
               for n, a in adapters.items())


def linear_probe(config, split, *, progress=True):
    """Frozen encoder, same head as the fine-tuned models (pooler output -> linear): the pooled
    features are computed once, then the head is trained full-batch with AdamW."""
    import torch
    from tqdm.auto import tqdm

    config = replace(config, method="probe")
    model, tokenizer, _, _ = build_model(config, len(split.train_texts), num_labels=len(split.label_names))
    wall, cpu = time.perf_counter(), time.process_time()
    feats = {}
    model.eval()
    with torch.no_grad():
        for part, texts in (("train", split.train_texts), ("test", split.test_texts)):
            ids = encode(tokenizer, texts, config.max_length)
            order = np.argsort([len(x) for x in ids], kind="stable")
            out = torch.empty(len(ids), model.config.hidden_size)
            for k in tqdm(range(0, len(ids), 128), desc=f"probe features ({part})", disable=not progress):
                idx = order[k:k + 128]
                out[idx] = model.bert(**collate([ids[i] for i in idx])).pooler_output
            feats[part] = out
    head = model.classifier
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.probe_lr, weight_decay=config.weight_decay)
    y = torch.as_tensor(split.train_labels)
    losses = []
    for _ in range(config.probe_steps):
        loss = torch.nn.functional.cross_entropy(head(feats["train"]), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    with torch.no_grad():
        preds = head(feats["test"]).argmax(-1).numpy()
    return FinetuneResult(
        method="probe", seed=config.seed, accuracy=float((preds == split.test_labels).mean()),
        trained_parameters=sum(p.numel() for p in head.parameters()), final_adapter_parameters=0,
        total_rank=0, ranks={}, losses=losses, steps=config.probe_steps,
        wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu, config=asdict(config))


# ------------------------------------------------------------------------------------ analysis
# The six adapted matrices of a BERT block, in the paper's names, keyed by what follows "layer.N.".
MODULES = (("attention.self.query", "W_q"), ("attention.self.key", "W_k"),
           ("attention.self.value", "W_v"), ("attention.output.dense", "W_o"),
           ("intermediate.dense", "W_f1"), ("output.dense", "W_f2"))
FFN = ("W_f1", "W_f2")


def rank_grid(ranks):
    """{module name: rank} -> (grid (6 modules, n_layers) float array, module labels, layer numbers).

    Layers are numbered from 1 (bottom, next to the embeddings) as in the paper's figures.
    """
    pattern = re.compile(r"(?:^|\.)layer\.(\d+)\.(.+)$")
    kinds = dict(MODULES)
    cells = {}
    for name, rank in ranks.items():
        m = pattern.search(name)
        if m is None or m.group(2) not in kinds:
            raise ConfigError(f"{name!r} is not one of a BERT block's six adapted matrices")
        cells[(kinds[m.group(2)], int(m.group(1)))] = float(rank)
    layers = sorted({layer for _, layer in cells})
    labels = [label for _, label in MODULES]
    grid = np.full((len(labels), len(layers)), np.nan)
    for (label, layer), rank in cells.items():
        grid[labels.index(label), layers.index(layer)] = rank
    return grid, labels, [layer + 1 for layer in layers]


def mean_ranks(rank_dicts):
    """Average several {module name: rank} (e.g. one per seed) into one {module name: mean rank}."""
    rank_dicts = list(rank_dicts)
    return {name: float(np.mean([d[name] for d in rank_dicts])) for name in rank_dicts[0]}


def allocation_summary(ranks):
    """Where the rank went, in the two terms of the paper's finding (§4.4, Fig. 3: "AdaLoRA always
    prefers to allocating more budget to FFNs and top layers"): mean rank per FFN vs attention
    matrix, and per matrix in the top vs the bottom half of the layers."""
    grid, labels, layers = rank_grid(ranks)
    ffn = [labels.index(k) for k in FFN]
    attention = [i for i in range(len(labels)) if i not in ffn]
    half = len(layers) // 2
    out = {"ffn": float(grid[ffn].mean()), "attention": float(grid[attention].mean()),
           "bottom": float(grid[:, :half].mean()), "top": float(grid[:, -half:].mean()),
           "per_module": {label: float(grid[i].mean()) for i, label in enumerate(labels)},
           "per_layer": {layer: float(grid[:, j].mean()) for j, layer in enumerate(layers)}}
    out["ffn_gets_more"] = out["ffn"] > out["attention"]
    out["top_gets_more"] = out["top"] > out["bottom"]
    return out


# ------------------------------------------------------------------------------------ results
COMPARISON_FILE = "minilm_tweets.json"  # in adalora_lite/results/ (package data)


def save_results(path, results, meta):
    """Write FinetuneResults (or their dicts) and a `meta` dict (machine, date, command) as JSON."""
    recorded_results.save_runs(path, [r if isinstance(r, dict) else asdict(r) for r in results], meta)


def load_results(path=None):
    """(meta, runs) of a comparison saved by `save_results`; default: the recorded one shipped in
    `adalora_lite.results`, which the benchmark command `python benchmarks/run.py --only accuracy`
    writes."""
    return recorded_results.load_runs(COMPARISON_FILE, path,
                                      how=".venv/bin/python benchmarks/run.py --only accuracy")


def summarize(runs):
    """Per method, in METHODS order: seeds, mean/std/min/max accuracy, parameters, rank, time."""
    out = []
    for method, rs in recorded_results.groups(runs, "method", METHODS):
        acc = np.array([r["accuracy"] for r in rs])
        out.append({"method": method, "seeds": [r["seed"] for r in rs], "n": len(rs),
                    "mean": float(acc.mean()), "std": recorded_results.std(acc),
                    "min": float(acc.min()), "max": float(acc.max()),
                    "trained_parameters": rs[0]["trained_parameters"],
                    "final_adapter_parameters": float(np.mean([r["final_adapter_parameters"] for r in rs])),
                    "total_rank": rs[0]["total_rank"], "steps": rs[0]["steps"],
                    "wall_s": float(np.median([r["wall_s"] for r in rs]))})
    return out


def update_growth(config, split, steps=10):
    """How far the adapters move in the first `steps` training steps: the mean over the adapted
    matrices of ||Delta W||_F after each step (a list). Same loop as `finetune`, without masking.

    Why AdaLoRA starts slowly at the same learning rate. Adam moves every parameter by about the
    learning rate per step, whatever the size of its gradient, so what sets the early growth of
    Delta W is how many numbers move and what they are multiplied by, not the gradient's size:

    LoRA     Delta W = s B A: all d_out x r entries of B move by about lr, each multiplied by a row
             of A (Kaiming-uniform, row norm about sqrt(1/3)): ||Delta W||_F ~ s lr sqrt(d_out r / 3)
             after step 1 (0.045 for a 384 x 384 matrix at r = 4, s = 2).
    AdaLoRA  Delta W = s P diag(lam) Q with lam = 0 at the start: Delta W is linear in the r values
             of lam, each moving by about lr, each multiplied by ||P_i|| ||Q_i|| (1 for our orthonormal
             P, Q; about 0.02^2 sqrt(d_out d_in) = 0.15 for PEFT's and the authors' N(0, 0.02^2) at
             384 x 384): ||Delta W||_F ~ s lr sqrt(r) ||P_i|| ||Q_i|| (0.0049 at r = 6, s = 2).
             P and Q move too once lam is not 0, but their change enters Delta W multiplied by lam.
    """
    import torch

    if config.method == "probe":
        raise ConfigError("update_growth needs adapters: method 'lora' or 'adalora'")
    model, tokenizer, adapters, _ = build_model(config, len(split.train_texts))
    ids = encode(tokenizer, split.train_texts, config.max_length)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    labels = torch.as_tensor(split.train_labels)
    norms = []
    model.train()
    for step, idx in enumerate(batch_order(len(ids), config.batch_size, steps,
                                           np.random.default_rng(config.seed)), start=1):
        train_step(model, collate([ids[i] for i in idx]), labels[idx], optimizer, step=step)
        with torch.no_grad():
            norms.append(float(np.mean([a.delta_weight().norm().item() for a in adapters.values()])))
    return norms


# ------------------------------------------------------------------- where the allocator runs
def loop_orders_planted(seeds=(0, 1, 2), *, init_r=8, total_steps=1000, warmup_steps=200,
                        final_steps=300, lr=0.2, gamma=0.1):
    """AdaLoRA on notebook 06's planted-rank task (NumPy, SGD) in both orders, same seed each.

    Per seed: {"seed", "paper", "peft"} where each order holds "ranks" (a list per layer),
    "mask" (a flat bool list, every triplet), "revived" (how many times a triplet masked
    after one step was kept after the next), "relative_loss" (test loss / frozen loss) and
    "allocation_error" (triplets in the wrong layer against the planted ranks); plus "same_kept",
    the fraction of the budget kept by both orders (1.0: the same triplets survive).
    """
    from ..allocator import RankAllocator
    from ..reference import train_step as reference_step
    from .budget import allocation_error, make_planted_task, mse, planted_model

    out = []
    for seed in seeds:
        task = make_planted_task(seed=seed)
        budget = sum(task.planted_ranks)
        row = {"seed": int(seed)}
        for order in ORDERS:
            model = planted_model(task, adapter="svd", r=init_r, seed=seed)
            alloc = RankAllocator(model.layers, target_budget=budget, total_steps=total_steps,
                                  warmup_steps=warmup_steps, final_steps=final_steps, order=order)
            revived, dropped = 0, np.zeros(init_r * len(task.planted_ranks), dtype=bool)
            for step, idx in enumerate(task.batches(total_steps, 64, seed=seed + 1000), start=1):
                reference_step(model, task.X_train[idx], task.Y_train[idx], lr=lr, gamma=gamma,
                               loss_fn=mse, allocator=alloc, step=step)
                kept = np.concatenate([layer.mask for layer in model.layers.values()])
                revived += int((dropped & kept).sum())  # masked after the last step, kept now
                dropped = ~kept
            ranks = [int(r) for r in alloc.ranks().values()]
            row[order] = {"ranks": ranks, "revived": revived,
                          "mask": [bool(k) for layer in model.layers.values() for k in layer.mask],
                          "relative_loss": task.loss(model) / task.start_loss(),
                          "allocation_error": allocation_error(ranks, task.planted_ranks)}
        both = np.logical_and(row["paper"]["mask"], row["peft"]["mask"]).sum()
        row["same_kept"] = float(both / budget)
        out.append(row)
    return out


def compare_loop_orders(config, split, *, progress=True):
    """Two MiniLM AdaLoRA runs that differ only in `order` (same seed, data, batches).

    Returns {"paper": FinetuneResult.summary() + ranks, "peft": ..., "same_kept": the fraction of
    the final budget kept by both (the same triplet of the same matrix), "same_rank": the number
    of matrices with the same final rank}. Minutes on a CPU: `benchmarks/loop_orders.py` records it
    into adalora_lite/results/loop_orders.json, which `load_loop_orders()` reads."""
    if config.method != "adalora":
        raise ConfigError("compare_loop_orders compares AdaLoRA runs: method must be 'adalora'")
    out, masks = {}, {}
    for order in ORDERS:
        parts = build_model(replace(config, order=order), len(split.train_texts))
        res = finetune(replace(config, order=order), split, progress=progress, model_parts=parts)
        masks[order] = np.concatenate([a.mask.numpy() for a in parts[2].values()])
        out[order] = {**res.summary(), "ranks": res.ranks}
    budget = config.r * len(out["peft"]["ranks"])
    out["same_kept"] = float(np.logical_and(masks["paper"], masks["peft"]).sum() / budget)
    out["same_rank"] = int(sum(out["paper"]["ranks"][n] == r for n, r in out["peft"]["ranks"].items()))
    return out


def load_loop_orders(path=None):
    """The recorded `compare_loop_orders` run: (meta, result)."""
    data = recorded_results.read("loop_orders.json", path,
                                 how=".venv/bin/python benchmarks/loop_orders.py")
    return data["meta"], data["result"]


# ------------------------------------------------------------------- a recorded run, replayable
REPLAY_FILE = "minilm_replay.json"  # in adalora_lite/results/ (package data)
REPLAY_DIGITS = 4  # significant digits kept of every lambda: enough to draw, small to ship


@dataclass(frozen=True, eq=False)  # eq=False: it holds arrays
class RankReplay:
    """One AdaLoRA run on MiniLM, step by step (step 0: before training), to replay without training.

    The MiniLM twin of notebook 06's `labs.budget.Trajectory`: what the allocator did to every
    triplet of the 36 matrices, per step t = 0..T, after the optimizer step and the allocator:

        lambdas   (T+1, n_triplets) lam as the model holds it (a masked triplet's lam is 0 right
                  after a masking; Adam moves it again until the next masking re-zeroes it)
        masks     (T+1, n_triplets) bool, True = kept
        budgets   (T+1,) int, the allocator's b(t)
        losses    (T+1,) training cross-entropy of step t's minibatch (NaN at step 0)

    Triplets are laid out matrix by matrix in `modules` order, init_r each.
    """
    modules: tuple          # the adapted matrices' names, in the allocator's order
    init_r: int
    lambdas: np.ndarray
    masks: np.ndarray
    budgets: np.ndarray
    losses: np.ndarray
    schedule: dict          # the BudgetSchedule's arguments (total, warm-up, final steps, budgets)
    accuracy: float         # held-out accuracy at the end
    config: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def n_steps(self):
        """T: the last step (steps run 0..T)."""
        return len(self.budgets) - 1

    @property
    def n_triplets(self):
        return self.masks.shape[1]

    def rank_history(self):
        """(T+1, n_matrices) int: the rank of every matrix after every step."""
        return self.masks.reshape(len(self.masks), len(self.modules), self.init_r).sum(axis=2)

    def ranks(self, step):
        """{matrix name: kept triplets} after `step`."""
        return dict(zip(self.modules, (int(r) for r in self.rank_history()[step])))

    def rank_grids(self):
        """(T+1, 6 modules, n_layers) float: `rank_grid` of every step, computed once so that a
        replay only looks them up; with the module labels and layer numbers of `rank_grid`."""
        grids = [rank_grid(dict(zip(self.modules, row))) for row in self.rank_history()]
        return np.stack([g for g, _, _ in grids]), grids[0][1], grids[0][2]

    def matrix_slice(self, name):
        """Where matrix `name`'s triplets sit in a row of `lambdas` or `masks`."""
        k = self.modules.index(name)
        return slice(k * self.init_r, (k + 1) * self.init_r)

    def to_json(self):
        """A JSON-ready dict: lambdas rounded to REPLAY_DIGITS significant digits, masks as strings
        of 0/1 (one per step), the NaN loss of step 0 as null."""
        return {"modules": list(self.modules), "init_r": self.init_r, "schedule": self.schedule,
                "accuracy": self.accuracy, "config": self.config,
                "budgets": [int(b) for b in self.budgets],
                "losses": [None if np.isnan(x) else round(float(x), 5) for x in self.losses],
                "masks": ["".join("1" if k else "0" for k in row) for row in self.masks],
                "lambdas": [[float(f"{x:.{REPLAY_DIGITS}g}") for x in row] for row in self.lambdas]}

    @classmethod
    def from_json(cls, data, meta=None):
        return cls(modules=tuple(data["modules"]), init_r=int(data["init_r"]),
                   lambdas=read_only(np.array(data["lambdas"], dtype=float)),
                   masks=read_only(np.array([[c == "1" for c in row] for row in data["masks"]])),
                   budgets=read_only(np.array(data["budgets"], dtype=int)),
                   losses=read_only(np.array([np.nan if x is None else x for x in data["losses"]],
                                             dtype=float)),
                   schedule=dict(data["schedule"]), accuracy=float(data["accuracy"]),
                   config=dict(data.get("config", {})), meta=dict(meta or {}))


def record_rank_replay(config, split, *, progress=True):
    """Train AdaLoRA (`config.method` must be "adalora") with `finetune` and record every step
    through its `on_step` hook: a `RankReplay`. Minutes on a CPU for a real run:
    `benchmarks/minilm_replay.py` records the one notebook 07 and classroom mode replay."""
    import torch

    if config.method != "adalora":
        raise ConfigError("record_rank_replay records AdaLoRA's allocator: method must be 'adalora'")
    parts = build_model(config, len(split.train_texts), num_labels=len(split.label_names))
    adapters, allocator = parts[2], parts[3]
    lambdas, masks, budgets = [], [], []

    def keep(step, adapters, allocator):
        with torch.no_grad():
            lambdas.append(np.concatenate([a.lam.detach().numpy() for a in adapters.values()]))
            masks.append(np.concatenate([a.mask.numpy() for a in adapters.values()]))
        budgets.append(int(allocator.budget))

    keep(0, adapters, allocator)  # step 0: lam = 0, everything kept, the initial budget
    result = finetune(config, split, progress=progress, model_parts=parts, on_step=keep)
    s = allocator.schedule
    schedule = {"total_steps": s.total_steps, "init_budget": s.init_budget,
                "target_budget": s.target_budget, "warmup_steps": s.warmup_steps,
                "final_steps": s.final_steps, "mask_interval": s.mask_interval}
    return RankReplay(modules=tuple(adapters), init_r=config.init_r,
                      lambdas=read_only(np.array(lambdas)), masks=read_only(np.array(masks)),
                      budgets=read_only(np.array(budgets)),
                      losses=read_only(np.array([np.nan] + result.losses)), schedule=schedule,
                      accuracy=result.accuracy, config=asdict(config))


def save_rank_replay(path, replay, meta):
    """Write {"meta": meta, "replay": replay.to_json()} as compact JSON to `path`."""
    import json
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"meta": meta, "replay": replay.to_json()},
                                     separators=(",", ":")) + "\n")


def load_rank_replay(path=None):
    """The `RankReplay` saved at `path`; default: the recorded one shipped in `adalora_lite.results`
    (written by `python benchmarks/minilm_replay.py`). Its `meta` says when, where and how."""
    data = recorded_results.read(REPLAY_FILE, path, how=".venv/bin/python benchmarks/minilm_replay.py")
    return RankReplay.from_json(data["replay"], data["meta"])
