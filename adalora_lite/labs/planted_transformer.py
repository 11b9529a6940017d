"""Notebook 10: when does adaptive allocation pay? A MiniLM whose true update is known.

The teacher is MiniLM with a known low-rank update dW* added to a few matrices; the student is
MiniLM with adapters, trained to reproduce the teacher's last hidden state (MSE, every token) on
real text (the tweets). Because the truth is known, we measure both the fit (held-out loss) and
the allocation (how much of the final rank sits on the planted matrices).

The design, and why:

- **Adapt the top three layers only (18 matrices: the six kinds of layers 3-5, `placement="top"`),
  plant only there.** Layers 0-2 are then the same in teacher and student, so their output is
  computed once per text and every run trains layers 3-5 alone: half the forward, half the
  backward. It also lets uniform LoRA exist at a small budget: rank 1 on 18 matrices is 18.
- **Heterogeneous plant: rank 12 in 3 of the 18 matrices** (layer 3's intermediate.dense,
  layer 4's attention.output.dense, layer 5's attention.self.value), none in the other 15;
  planted total rank 36. Every planted direction u v^T (random orthonormal u, v, drawn per seed)
  has weight half the matrix's spectral norm, as in the first probe of the issue.
- **Budgets 18 / 36 / 72** (average rank 1 / 2 / 4): below, at and above the planted total.
  Uniform LoRA puts 1 / 2 / 4 ranks on each planted matrix (3 / 6 / 12 of the 36 planted ranks);
  a perfect allocator puts all 18, all 36, all 36 there.
- **Homogeneous control: the same planted total (36) spread evenly, rank 2 on each of the 18
  matrices.** Uniform LoRA's placement is then already right; allocation has nothing to find.
- **The cap.** A matrix never gets more rank than its initial rank. At the paper's ratio
  b(0) = 1.5 b(T) (PEFT's init_r 12 -> target_r 8) the initial rank is ceil(1.5 r): 2 / 3 / 6 at
  our budgets, so at budget 18 AdaLoRA can put at most 6 ranks on the planted matrices. The
  `*_wide` arms start from rank 12 (the planted rank of a matrix) and are not capped.
- **Short runs** (150 steps, batch 16 x 24 tokens, every text seen once; AdamW lr 1e-2 with the
  course's warm-up/decay; the allocator's phases 20 % / 20 %, masking every 5 steps): about a minute
  on one core, so that 5 seeds x every arm x 3 budgets x 2 designs fit in the recording's time.
  Dropout is off (student in eval mode): the teacher is deterministic, the loss should be too.

The training step is the course's `finetune.train_step` (which calls `model(**batch,
labels=y).loss`): `TopLayers` wraps the student's layers 3-5 so that its loss *is* the
distillation MSE. `finetune()` is not used: it trains against class labels and reports an
accuracy, while distillation needs a per-token target and a held-out MSE; `distill` is the one
short loop (build, AdamW + schedule, `train_step` per batch, held-out loss) that replaces it.

Arms (`ARMS`): "lora" (uniform rank r), "svd" (SVD form, rank r, never pruned), "adalora" and
"random" (init ceil(1.5 r), the paper's ratio; the paper's score or a seeded random one), and from
rank 12 "adalora_wide", "random_wide", "sensitivity_wide" (I-bar alone), "magnitude_wide" (|lambda|).
"""
import functools
import math
import time
from types import SimpleNamespace

import numpy as np

from ..errors import ConfigError
from .common import single_thread
from .finetune import FinetuneConfig, batch_order, build_model, lr_warmup_decay, train_step
from .rank import energy_rank

FIRST_ADAPTED = 3            # layers 3-5 are adapted; 0-2 are shared and cached
SEQ_LEN = 24                 # tokens per text: only texts with >= 24 tokens, truncated, no padding
KINDS = ("attention.self.query", "attention.self.key", "attention.self.value",
         "attention.output.dense", "intermediate.dense", "output.dense")
MATRICES = tuple(f"layer.{i}.{k}" for i in range(FIRST_ADAPTED, 6) for k in KINDS)
DESIGNS = {
    "heterogeneous": {"layer.3.intermediate.dense": 12, "layer.4.attention.output.dense": 12,
                      "layer.5.attention.self.value": 12},
    "homogeneous": {name: 2 for name in MATRICES},
}
BUDGETS = (18, 36, 72)
WIDE_R = 12
STRENGTH = 0.5               # each planted direction: STRENGTH * the matrix's spectral norm
ARMS = {
    "lora": {"method": "lora"},
    "adalora": {"method": "adalora", "score": "importance"},
    "random": {"method": "adalora", "score": "random"},
    "adalora_wide": {"method": "adalora", "score": "importance", "init_r": WIDE_R},
    "random_wide": {"method": "adalora", "score": "random", "init_r": WIDE_R},
    "sensitivity_wide": {"method": "adalora", "score": "sensitivity", "init_r": WIDE_R},
    "magnitude_wide": {"method": "adalora", "score": "magnitude", "init_r": WIDE_R},
    "svd": {"method": "svd"},
}
CONTROL_ARMS = ("lora", "adalora", "adalora_wide", "random", "random_wide")
RESULTS_FILE, SPECTRA_FILE = "planted_transformer.json", "tweet_update_spectra.json"
RECORD_COMMAND = ".venv/bin/python benchmarks/planted_transformer.py --resume --workers 1"


def config_for(arm, budget, seed, *, steps=200, batch_size=16, n_train=None):
    """The `finetune.FinetuneConfig` of one run: r = budget / 18 (the average rank per matrix at the
    end, every method), init_r ceil(1.5 r) unless the arm fixes it, placement "top"."""
    if arm not in ARMS:
        raise ConfigError(f"arm must be one of {tuple(ARMS)}, got {arm!r}")
    if budget % len(MATRICES):
        raise ConfigError(f"budget must be a multiple of {len(MATRICES)}, got {budget}")
    r = budget // len(MATRICES)
    spec = dict(ARMS[arm])
    init_r = spec.pop("init_r", math.ceil(1.5 * r))
    n_train = n_train or steps * batch_size
    return FinetuneConfig(r=r, init_r=max(init_r, r), lr=1e-2, batch_size=batch_size,
                          epochs=steps * batch_size / n_train, placement="top", seed=seed, **spec)


# ------------------------------------------------------------------------------------ data
@functools.lru_cache(maxsize=1)
def _minilm():
    """The frozen MiniLM and its tokenizer, loaded once per process (only read here)."""
    from ..data import load_minilm
    model, tokenizer = load_minilm()
    return model.eval(), tokenizer


def load_texts(n_train=3200, n_test=512, seq_len=SEQ_LEN):
    """(train ids, test ids) as (n, seq_len) LongTensors: 3-class tweets of at least `seq_len`
    tokens, truncated to it (so no padding, no attention mask); load_tweets' fixed split."""
    import torch

    from ..data.tweets import SENTIMENTS, load_tweets

    split = load_tweets(classes=SENTIMENTS)
    tokenizer = _minilm()[1]
    out = []
    for texts, n in ((split.train_texts, n_train), (split.test_texts, n_test)):
        ids = []
        for part in (texts[:3 * n], texts[3 * n:]):  # about 3 in 4 tweets are long enough: one call
            if len(ids) < n and len(part):
                ids += [x[:seq_len] for x in tokenizer(list(part), truncation=True, max_length=seq_len)["input_ids"]
                        if len(x) >= seq_len]
        if len(ids) < n:
            raise ConfigError(f"only {len(ids)} texts of {seq_len} tokens, asked for {n}")
        out.append(torch.tensor(ids[:n]))
    return tuple(out)


def shared_hidden(ids, batch_size=256):
    """The hidden states entering layer 3 of the frozen MiniLM (n, seq_len, 384): the same in
    teacher and student, computed once."""
    import torch

    model = _minilm()[0]
    with torch.no_grad():
        return torch.cat([model(input_ids=ids[k:k + batch_size], output_hidden_states=True)
                          .hidden_states[FIRST_ADAPTED] for k in range(0, len(ids), batch_size)])


def planted_updates(design, seed, strength=STRENGTH):
    """{matrix: dW*} of `design` (a DESIGNS key or {matrix: rank}): rank-k sums of random
    orthonormal directions, each weighted strength * ||W||_2; drawn from `seed`."""
    import torch

    ranks = DESIGNS[design] if isinstance(design, str) else dict(design)
    model = _minilm()[0]
    gen = torch.Generator().manual_seed(1000 + seed)
    out = {}
    for name, k in ranks.items():
        W = model.get_submodule(f"encoder.{name}").weight.detach()
        U, _ = torch.linalg.qr(torch.randn(W.shape[0], k, generator=gen))
        V, _ = torch.linalg.qr(torch.randn(W.shape[1], k, generator=gen))
        out[name] = strength * torch.linalg.matrix_norm(W, ord=2) * U @ V.T
    return out


def teacher_targets(hidden, updates, batch_size=256):
    """The teacher's last hidden state for the cached layer-3 inputs: MiniLM's layers 3-5 with
    W + dW* in the planted matrices."""
    import copy

    import torch

    layers = copy.deepcopy(_minilm()[0].encoder.layer[FIRST_ADAPTED:]).eval()
    with torch.no_grad():
        for name, dW in updates.items():
            i, path = name.split(".", 2)[1:]
            layers[int(i) - FIRST_ADAPTED].get_submodule(path).weight += dW
        return torch.cat([TopLayers(layers)(hidden[k:k + batch_size]).last_hidden_state
                          for k in range(0, len(hidden), batch_size)])


def TopLayers(layers):
    """A module over BERT layers (no padding, no mask) that `train_step` can drive:
    model(hidden=h, labels=target).loss is the mean squared error to the target."""
    import torch

    class _TopLayers(torch.nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = torch.nn.ModuleList(layers)

        def forward(self, hidden, labels=None):
            for layer in self.layers:
                hidden = layer(hidden)
            loss = None if labels is None else torch.nn.functional.mse_loss(hidden, labels)
            return SimpleNamespace(loss=loss, last_hidden_state=hidden)

    return _TopLayers(layers)


# ------------------------------------------------------------------------------------ one run
def distill(config, data):
    """Train the student of `config` to match data["train_target"] from data["train_hidden"]; the
    one distillation loop (see the module docstring). Returns a dict: held-out `loss` (MSE),
    `start_loss` (the frozen student's), final `ranks` {matrix: rank}, `losses` per step, time."""
    import torch

    n_train = len(data["train_hidden"])
    model, _, adapters, allocator = build_model(config, n_train)
    student = TopLayers(model.bert.encoder.layer[FIRST_ADAPTED:]).eval()  # eval: no dropout
    steps = config.total_steps(n_train)
    params = [p for a in adapters.values() for p in a.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_warmup_decay(steps))
    gamma = config.gamma if config.method in ("svd", "adalora") else 0.0
    start_loss = held_out_loss(student, data)
    wall, losses = time.perf_counter(), []
    for step, idx in enumerate(batch_order(n_train, config.batch_size, steps,
                                           np.random.default_rng(config.seed)), start=1):
        idx = torch.as_tensor(idx)
        losses.append(train_step(student, {"hidden": data["train_hidden"][idx]},
                                 data["train_target"][idx], optimizer, step=step, adapters=adapters,
                                 gamma=gamma, allocator=allocator, scheduler=scheduler))
    ranks = allocator.ranks() if allocator is not None else {n: a.r for n, a in adapters.items()}
    return {"loss": held_out_loss(student, data), "start_loss": start_loss,
            "ranks": {short_name(n): int(r) for n, r in ranks.items()},
            "losses": [round(x, 6) for x in losses], "steps": steps,
            "wall_s": round(time.perf_counter() - wall, 2)}


def held_out_loss(student, data, batch_size=256):
    import torch

    with torch.no_grad():
        h, t = data["test_hidden"], data["test_target"]
        sq = sum(float(((student(h[k:k + batch_size]).last_hidden_state - t[k:k + batch_size]) ** 2).sum())
                 for k in range(0, len(h), batch_size))
    return sq / t.numel()


def short_name(name):
    """'bert.encoder.layer.3.attention.self.query' -> 'layer.3.attention.self.query'."""
    return name[name.index("layer."):]


def make_data(design, seed, texts=None, hidden=None):
    """Everything `distill` needs for one (design, seed): cached layer-3 inputs and the teacher's
    outputs, train and held-out. `texts`/`hidden` may be passed in to reuse them across runs."""
    texts = texts or load_texts()
    hidden = hidden or tuple(shared_hidden(ids) for ids in texts)
    updates = planted_updates(design, seed)
    return {"train_hidden": hidden[0], "test_hidden": hidden[1],
            "train_target": teacher_targets(hidden[0], updates),
            "test_target": teacher_targets(hidden[1], updates)}


# ------------------------------------------------------------------------------------ metrics
def allocation_metrics(found, planted):
    """Precision and recall of rank against the truth. found, planted: {matrix: rank} (a matrix
    missing from `planted` has planted rank 0). matched = sum min(found, planted) over matrices;
    precision = matched / total found, recall = matched / total planted, on_planted = the share of
    the found rank sitting on matrices with any planted rank."""
    matched = sum(min(r, planted.get(m, 0)) for m, r in found.items())
    total = sum(found.values())
    on = sum(r for m, r in found.items() if planted.get(m, 0) > 0)
    return {"precision": matched / total if total else math.nan,
            "recall": matched / sum(planted.values()), "on_planted": on / total if total else math.nan}


def heterogeneity(values):
    """How unevenly something (a rank, an energy) is spread over the matrices: 1 - N_eff / N, with
    N_eff = (sum v)^2 / sum v^2 the participation ratio. 0 when every matrix holds the same, (N-k)/N
    when k matrices hold the same and the rest nothing (15/18 = 0.83 for our heterogeneous plant)."""
    v = np.asarray(list(values.values()) if isinstance(values, dict) else values, dtype=float)
    if v.sum() <= 0:
        return math.nan
    return float(1 - v.sum() ** 2 / (v ** 2).sum() / v.size)


def paired_interval(diffs, level=0.95):
    """Mean of paired differences with its Student-t interval: {n, mean, low, high, outside} where
    outside = the interval excludes 0."""
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    n = d.size
    if n < 2:
        return {"n": n, "mean": float(d.mean()) if n else math.nan, "low": math.nan, "high": math.nan,
                "outside": False}
    half = stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
    return {"n": n, "mean": float(d.mean()), "low": float(d.mean() - half),
            "high": float(d.mean() + half), "outside": bool(abs(d.mean()) > half)}


def seeds_for_power(sd, delta, alpha=0.05, power=0.8):
    """Seeds a paired t-test needs to detect a mean difference `delta` with paired std `sd`
    (two-sided, level alpha, the given power): the smallest n >= 2 with the noncentral-t power."""
    from scipy import stats

    if sd <= 0:
        return 2
    for n in range(2, 100000):
        t = stats.t.ppf(1 - alpha / 2, n - 1)
        nc = delta / (sd / math.sqrt(n))
        lower = stats.nct.cdf(-t, n - 1, nc)  # the wrong-sign tail: negligible, NaN in scipy when tiny
        if stats.nct.sf(t, n - 1, nc) + (0.0 if math.isnan(lower) else lower) >= power:
            return n
    return None


# ------------------------------------------------------------------------------------ the plan
def plan(seeds=range(5)):
    """Every run of the recording, most important first: (design, arm, budget, seed) tuples.
    1. the lowest budget's goal comparison (AdaLoRA, uniform LoRA, random; both inits) and its
       control; 2. the rest of the lowest budget; 3. budget 36; 4. budget 72."""
    seeds = list(seeds)
    low, out = BUDGETS[0], []
    first = ("lora", "adalora", "random", "adalora_wide", "random_wide")
    for arm in first:
        out += [("heterogeneous", arm, low, s) for s in seeds]
    out += [("homogeneous", arm, low, s) for arm in CONTROL_ARMS for s in seeds]
    out += [("heterogeneous", arm, low, s) for arm in ARMS if arm not in first for s in seeds]
    for budget in BUDGETS[1:]:
        out += [("heterogeneous", arm, budget, s) for arm in ARMS for s in seeds]
        out += [("homogeneous", arm, budget, s) for arm in CONTROL_ARMS for s in seeds]
    return out


def run_key(run):
    return (run["design"], run["arm"], run["budget"], run["seed"])


def load_recording(path=None):
    """(meta, runs) of the recording (default: the one shipped in `adalora_lite.results`)."""
    from .. import results

    return results.load_runs(RESULTS_FILE, path, how=RECORD_COMMAND)


def load_spectra(path=None):
    """The full fine-tunes' update spectra: {"meta", "tasks", "planted"}."""
    from .. import results

    return results.read(SPECTRA_FILE, path, how=RECORD_COMMAND)


@single_thread()  # small runs: a second thread never pays, and on a busy machine it costs tenfold
def record_run(design, arm, budget, seed, data, *, steps=200, batch_size=16):
    """One planned run as the recording stores it."""
    config = config_for(arm, budget, seed, steps=steps, batch_size=batch_size,
                        n_train=len(data["train_hidden"]))
    out = distill(config, data)
    return {"design": design, "arm": arm, "budget": budget, "seed": seed, **out,
            "relative_loss": out["loss"] / out["start_loss"],
            **allocation_metrics(out["ranks"], DESIGNS[design]),
            "init_r": config.init_r, "method": config.method, "score": config.score}


@single_thread()
def live_data(steps=60, batch_size=8, *, design="heterogeneous", seed=0):
    """The data of a small live version (`steps` x `batch_size` training texts, 128 held-out, the
    same teacher), made once; then `record_run(design, arm, budget, seed, data, steps=steps,
    batch_size=batch_size)` takes seconds."""
    return make_data(design, seed, load_texts(n_train=steps * batch_size, n_test=128))



# ------------------------------------------------------------------- why the tweets are flat
def planted_spectra(design, seed=0):
    """Per planted matrix: the energy ||dW*||_F^2 and the rank holding 90 % of it (the summary
    `benchmarks/planted_transformer.py` records for the full fine-tunes of the tweet tasks)."""
    import torch

    out = {}
    for name, dW in planted_updates(design, seed).items():
        s = torch.linalg.svdvals(dW).numpy()
        out[name] = {"energy": float((s ** 2).sum()), "r90": energy_rank(s)}
    return out


def power_table(meta, runs, comparisons=(("adalora_144", "ablation_random"), ("adalora_144", "lora_144"),
                                          ("adalora_144", "ablation_sensitivity"),
                                          ("adalora_144", "ablation_magnitude"),
                                          ("adalora_144", "ablation_svd"), ("adalora_36", "lora_36"))):
    """From the miniature's recorded runs (notebook 09): per task and comparison, the paired
    differences in accuracy points, their std, and the seeds a paired t-test needs to see a 0.5-
    and a 1-point difference (95 % level, 80 % power) if the std stays as measured."""
    from .miniature import TASKS, compare_arms, main_runs

    rows = []
    for task in TASKS:
        for a, b in comparisons:
            c = compare_arms(main_runs(meta, runs), task, a, b)
            if c["n"] < 2:
                continue
            rows.append({"task": task, "a": a, "b": b, "n": c["n"], "mean": c["mean"], "std": c["std"],
                         "seeds_0.5": seeds_for_power(c["std"], 0.5),
                         "seeds_1": seeds_for_power(c["std"], 1.0)})
    return rows
