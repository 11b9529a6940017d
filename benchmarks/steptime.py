"""One training step of MiniLM: our LoRA and AdaLoRA against PEFT's, interleaved on one machine.

    .venv/bin/python benchmarks/steptime.py [--reps 20] [--warmup 2] [--device cuda]

Four contenders on identical copies of MiniLM (all-MiniLM-L6-v2 + a 2-class head), batch 32 x 64
tokens of real tweets, rank 8 on the same 36 matrices, the head trained in all four. Every one
runs the library's own step, `adalora_lite.labs.finetune.train_step` (forward, loss, backward,
the allocator's moment before the optimizer step, AdamW, the moment after it, zero_grad), so the
contenders differ only in their modules and allocators:

    ours LoRA       nn.LoRALinear, no allocator
    ours AdaLoRA    nn.SVDLinear + gamma 0.1 * orthogonality_loss + RankAllocator (PEFT's order)
    PEFT LoRA       LoraConfig
    PEFT AdaLoRA    AdaLoraConfig (its regularizer, weight 0.1, added inside PEFT's forward);
                    nothing before the optimizer step, `update_and_allocate` after it (PEFT's loop)

Both allocators run a long schedule (every timed step in the shrinking phase) and mask every 10
steps. After `--warmup` untimed steps each, `--reps` repetitions: each contender one step, the
order rotated so none always goes first. The goals (issue 20): ours AdaLoRA / ours LoRA <= 1.02,
ours AdaLoRA / PEFT AdaLoRA <= 0.95, each the median of the per-repetition ratios.
"""
import copy
import sys
import time

import timing

NAME = "steptime"
R, TARGET_R, ALPHA, GAMMA, MASK_INTERVAL = 8, 4, 16, 0.1, 10
TOTAL_STEPS = 100_000  # long enough that every timed step is in the shrinking phase
GOALS = {"ours AdaLoRA / ours LoRA": 1.02, "ours AdaLoRA / PEFT AdaLoRA": 0.95}


class Moments:
    """The two moments of an AdaLoRA step that `train_step` calls, with the seconds spent in them
    (per step, in `seconds`)."""

    def __init__(self, before, after):
        self._before, self._after, self.seconds = before, after, 0.0

    def before_optimizer_step(self, step):
        self._timed(self._before, step)

    def after_optimizer_step(self, step):
        self._timed(self._after, step)

    def _timed(self, moment, step):
        start = time.perf_counter()
        moment(step)
        self.seconds += time.perf_counter() - start


class Contender:
    """A model, its optimizer and its step's arguments: `step(batch, labels)` trains once and
    returns the seconds its allocator took."""

    def __init__(self, model, *, adapters=None, gamma=0.0, moments=None):
        import torch

        from adalora_lite.labs.finetune import train_step

        model.train()
        self.train_step = train_step
        self.model, self.adapters, self.gamma, self.moments = model, adapters, gamma, moments
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=1e-4)
        self.trainable = sum(p.numel() for p in params)
        self.steps = 0

    def step(self, batch, labels):
        self.steps += 1
        if self.moments is not None:
            self.moments.seconds = 0.0
        self.train_step(self.model, batch, labels, self.optimizer, step=self.steps, adapters=self.adapters,
                   gamma=self.gamma, allocator=self.moments)
        return self.moments.seconds if self.moments is not None else 0.0


def contenders(device):
    """{name: Contender} on identical copies of MiniLM, and its tokenizer."""
    import torch
    from peft import AdaLoraConfig, LoraConfig, get_peft_model

    from adalora_lite import RankAllocator
    from adalora_lite.data import MINILM_TARGETS, load_minilm
    from adalora_lite.nn import add_adapters

    torch.manual_seed(0)
    base, tokenizer = load_minilm(num_labels=2)
    base.to(device)
    out = {}

    ours = copy.deepcopy(base)
    add_adapters(ours, MINILM_TARGETS, adapter="lora", r=R, alpha=ALPHA, modules_to_train="classifier")
    out["ours LoRA"] = Contender(ours)

    ours_ada = copy.deepcopy(base)
    adapters = add_adapters(ours_ada, MINILM_TARGETS, adapter="svd", r=R, alpha=ALPHA,
                            modules_to_train="classifier")
    allocator = RankAllocator(adapters, target_budget=TARGET_R * len(adapters), total_steps=TOTAL_STEPS,
                              warmup_steps=0, final_steps=0, mask_interval=MASK_INTERVAL, order="peft")
    out["ours AdaLoRA"] = Contender(ours_ada, adapters=adapters, gamma=GAMMA, moments=Moments(
        allocator.before_optimizer_step, allocator.after_optimizer_step))

    targets = list(MINILM_TARGETS)
    peft_lora = get_peft_model(copy.deepcopy(base), LoraConfig(
        r=R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=targets, modules_to_save=["classifier"]))
    out["PEFT LoRA"] = Contender(peft_lora)

    peft_ada = get_peft_model(copy.deepcopy(base), AdaLoraConfig(
        init_r=R, target_r=TARGET_R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=targets,
        modules_to_save=["classifier"], tinit=0, tfinal=0, deltaT=MASK_INTERVAL, total_step=TOTAL_STEPS,
        orth_reg_weight=GAMMA))
    out["PEFT AdaLoRA"] = Contender(peft_ada, moments=Moments(
        lambda step: None, peft_ada.base_model.update_and_allocate))
    return out, tokenizer


def add_arguments(parser):
    parser.add_argument("--reps", type=int, default=20, help="steptime: interleaved repetitions")
    parser.add_argument("--warmup", type=int, default=2, help="steptime: untimed steps per contender")


def run(args):
    import torch

    from adalora_lite.data.tweets import load_tweets

    meta = timing.start(NAME, reps=args.reps, warmup=args.warmup, rank=R, target_rank=TARGET_R,
                        batch="32 x 64 tokens", mask_interval=MASK_INTERVAL, gamma=GAMMA, goals=GOALS)
    models, tokenizer = contenders(args.device)
    split = load_tweets()
    batch = tokenizer(split.train_texts[:32], padding="max_length", truncation=True, max_length=64,
                      return_tensors="pt").to(args.device)
    labels = torch.as_tensor(split.train_labels[:32]).to(args.device)
    names = list(models)
    times = {name: [] for name in names}
    allocator_times = {name: [] for name in names}

    def one(name):
        timing.sync(args.device)
        start = time.perf_counter()
        spent = models[name].step(batch, labels)
        timing.sync(args.device)
        return time.perf_counter() - start, spent

    for name in names:  # warm-up, untimed
        for _ in range(args.warmup):
            one(name)
    for rep in range(args.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:  # rotated: no fixed place
            total, spent = one(name)
            times[name].append(total)
            allocator_times[name].append(spent)
        print(f"  rep {rep + 1}/{args.reps}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names),
              file=sys.stderr, flush=True)
    rows = {name: {**timing.quantiles(times[name]),
                   "allocator_median": timing.quantiles(allocator_times[name])["median"],
                   "trainable": models[name].trainable} for name in names}
    ratios = {f"{a} / {b}": timing.paired_ratio(times[a], times[b]) for a, b in (
        ("ours AdaLoRA", "ours LoRA"), ("ours AdaLoRA", "PEFT AdaLoRA"), ("ours LoRA", "PEFT LoRA"))}
    timing.save(NAME, meta, {"rows": rows, "paired_ratio_medians": ratios, "raw": times,
                             "raw_allocator": allocator_times}, device=args.device)
    for name, value in ratios.items():
        goal = f" (goal <= {GOALS[name]})" if name in GOALS else ""
        print(f"  {name}: {value:.3f}{goal}", file=sys.stderr)


if __name__ == "__main__":
    timing.main(sys.modules[__name__])
