"""Fine-tune MiniLM on a text classification split: the one training loop of notebooks 07, 09, 10.

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
prunes down to it. So `FinetuneConfig.r` is one quantity for every method: the average rank per
adapted matrix at the end of training (the budget is r x matrices): LoRA and the SVD form hold it
from the start, AdaLoRA and Prune LoRA prune down to it from `init_r`. `FinetuneResult` records
both parameter counts (trained, and kept at the end; `adalora_lite.counting`).

How much higher to start: §4.1 sets "b(0) as 1.5 times of b(T)" (so does §3.3, "e.g."), which is
our default (init_r 6 for r 4). Appendix C.1 instead picks the initial rank "from {4, 6, 12} for the
final average rank {2, 4, 8}": 2x at the smallest budget, 1.5x at the others; the authors' GLUE
scripts (github.com/QingruZhang/AdaLoRA, NLU/scripts at d10f5eb) run `--lora_r 2 --target_rank 1`
(2x) or `--lora_r 3 --target_rank 1` (3x, MNLI and CoLA). Which matrices: §3.2 lists five per layer
(W_q, W_k, W_v, W_f1, W_f2); the authors' scripts adapt six,
`--lora_module query,key,value,intermediate,layer.output,attention.output` (W_o too), as we do here.

Two schedules run beside each other, named apart: the learning rate's (`lr_warmup_decay`: linear
warm-up over the first 10 % of the steps, then linear decay to 0; ours) and the allocator's phases
(`allocator_warmup_fraction` t_i / T before the first masking, `allocator_final_fraction` t_f / T
with the allocation frozen; the paper's §3.3 schedule, as fractions of the run).

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
`labs.loop_orders` measures how much the two differ.

Texts are tokenized once (truncated to `max_length`), then padded per batch to its longest text.
"""
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..allocator import SCORES, RankAllocator, check_order
from ..counting import adapters_parameter_count
from ..errors import ConfigError
from .minilm_matrices import PLACEMENTS, placement_targets

METHODS = ("probe", "lora", "prune_lora", "svd", "adalora")
PRUNED = ("prune_lora", "adalora")  # the methods a RankAllocator prunes


@dataclass(frozen=True)
class FinetuneConfig:
    method: str = "adalora"          # one of METHODS
    r: int = 4                       # average rank per matrix at the end, every method (above)
    init_r: int = 6                  # AdaLoRA, Prune LoRA: initial rank per matrix, 1.5 r (§4.1)
    scale: float = 2.0               # alpha / r for both adapters
    epochs: float = 2.0              # passes over the training set (a fraction is allowed)
    batch_size: int = 32
    lr: float = 1e-3                 # AdamW's peak learning rate (schedule: lr_warmup_decay)
    weight_decay: float = 0.0
    max_length: int = 64             # tokens per text (tweets: median 31, 99% under 56)
    gamma: float = 0.1               # orthogonality regularizer weight (AdaLoRA only)
    allocator_warmup_fraction: float = 0.2  # AdaLoRA: steps before the first masking (t_i / T)
    allocator_final_fraction: float = 0.2   # AdaLoRA: steps with the allocation frozen (t_f / T)
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


def make_allocator(adapters, config, total_steps):
    """The RankAllocator for `config`: budget r per adapted matrix, warm-up and final phases as
    fractions of the run."""
    warmup = int(config.allocator_warmup_fraction * total_steps)
    final = int(config.allocator_final_fraction * total_steps)
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


def lr_warmup_decay(total_steps, lr_warmup_fraction=0.1):
    """The learning rate's multiplier at step k (for LambdaLR): linear warm-up to 1 over the first
    `lr_warmup_fraction` of the steps, then linear decay to 0. Not the allocator's warm-up."""
    warm = max(1, int(lr_warmup_fraction * total_steps))
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
    them afterwards); built here otherwise. on_step: optional callable(step, loss) run after every
    training step and both allocator moments (e.g. `recording.Recorder.record`). Returns a
    `FinetuneResult`.
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
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_warmup_decay(steps))
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
            on_step(step, losses[-1])
    bar.close()
    accuracy = evaluate(model, test_ids, split.test_labels)
    ranks = allocator.ranks() if allocator is not None else {n: a.r for n, a in adapters.items()}
    return FinetuneResult(
        method=config.method, seed=config.seed, accuracy=accuracy,
        trained_parameters=sum(p.numel() for p in trainable),
        final_adapter_parameters=adapters_parameter_count(adapters, ranks),
        total_rank=sum(ranks.values()), ranks=ranks, losses=losses, steps=steps,
        wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu, config=asdict(config))


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
