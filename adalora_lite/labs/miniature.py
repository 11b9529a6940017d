"""Notebook 09: the AdaLoRA paper's experiments in miniature on MiniLM, and what the noise allows.

The recording (`python benchmarks/miniature.py`, about 90 minutes on 2 cores; its docstring lists
the tasks and arms) trains MiniLM on two tweet tasks, "binary" and "three_class", for 125 steps per
run, three seeds per arm, and writes adalora_lite/results/miniature.json. Everything below reads it;
accuracies are in percentage points (% of the held-out tweets).

    load_miniature(path=None)         (meta, runs): every recorded run, the lr sweep included
    main_runs(meta, runs)             the runs at the learning rate chosen for their arm
    arm_stats(runs, task, arm)        one arm's accuracies over seeds: mean, sample std
    summarize(runs)                   arm_stats of every (task, arm) recorded, in ARMS order
    budget_curve, placement_rows, allocation_rows, ablation_rows    the notebook's tables

Noise. Arms share their seeds: seed s fixes the head's initialization and the order of the batches
in every arm, so two arms are compared *paired by seed*, d_s = acc_a(s) - acc_b(s), and

    inside the noise  <=>  |mean(d)| <= NOISE_SE * SE,   SE = std(d, ddof=1) / sqrt(n)

With n = 3 this is a lenient rule, not a significance test (a 95% t-interval on 2 degrees of
freedom needs 4.30 SE): "outside the noise" means the direction held by more than two standard
errors over three seeds, nothing stronger.

    compare(diffs)                    mean, std, SE (paired and, for the record, unpaired), inside?
    pairing_gain(comparisons)         how much tighter the paired SE is than the unpaired one
    compare_arms(runs, task, a, b)    compare() of a - b over their common seeds
    verdict(comparison)               "agrees" | "disagrees" | "cannot tell (inside noise)" for a
                                      comparison oriented so that the paper predicts a positive sign
    FINDINGS, paper_vs_us(runs)       each of the paper's findings next to ours, with its verdict

The paper's numbers are quoted whole, every cell, from the AdaLoRA paper (Zhang et al., ICLR 2023):
Table 1 (GLUE, §4.1), Table 2 (SQuAD, EM only, §4.2), Table 4 (Prune LoRA and the importance-score
variants, §4.4) and Table 5 (SVD-LoRA, LoRA_regu, gamma = 0, §4.4): TABLE1, TABLE2_EM, TABLE4,
TABLE5. Fig. 1, 2 and 3 are plots without printed numbers; for those the finding is the paper's
own sentence (§1 for Fig. 1, §4.4 for Fig. 2 and Fig. 3).

The live experiment, on notebook 06's planted-rank task (NumPy, a second a run), where the right
allocation is known:

    score_experiment(score, seeds)    AdaLoRA with the allocator's S_i = `score` vs the paper's
                                      importance, same seeds: ranks, misplaced triplets, test loss
"""
import math
from dataclasses import dataclass

import numpy as np

from .. import results as recorded_results
from ..allocator import SCORES
from ..errors import ConfigError
from .budget import PLANTED_RANKS, allocation_error, make_planted_task, train_planted
from .transformer import FFN, mean_ranks, rank_grid

RESULTS_FILE = "miniature.json"
RECORD_COMMAND = "python benchmarks/miniature.py"
TASKS = ("binary", "three_class")
BUDGETS = (36, 72, 144, 288)  # total rank over the 36 matrices: LoRA r = 1, 2, 4, 8
BUDGET_ARMS = {"lora": tuple(f"lora_{b}" for b in BUDGETS),
               "adalora": tuple(f"adalora_{b}" for b in BUDGETS)}
# LoRA at r = 4 on all 36 matrices is the "all" placement; the others spend the same parameters.
PLACEMENT_ARMS = {"all": "lora_144", "attention": "placement_attention", "ffn": "placement_ffn",
                  "bottom": "placement_bottom", "top": "placement_top"}
ABLATION_ARMS = ("ablation_sensitivity", "ablation_magnitude", "ablation_random",
                 "ablation_prune_lora", "ablation_svd", "ablation_gamma0", "ablation_gaussian")
ARMS = BUDGET_ARMS["lora"] + BUDGET_ARMS["adalora"] + tuple(PLACEMENT_ARMS.values())[1:] + ABLATION_ARMS
FULL_ADALORA = "adalora_144"  # the reference every ablation is compared with (same budget)
ALLOCATION_GROUPS = ("attention", "ffn", "bottom", "top")  # see group_rank

NOISE_SE = 2.0
AGREES, DISAGREES, INSIDE_NOISE = "agrees", "disagrees", "cannot tell (inside noise)"
TOO_FEW_SEEDS = "cannot tell (fewer than 2 seeds)"


# ------------------------------------------------------------------------------------ the recording
def load_miniature(path=None):
    """(meta, runs) of the recording; default: the one shipped in `adalora_lite.results`."""
    return recorded_results.load_runs(RESULTS_FILE, path, how=f".venv/bin/{RECORD_COMMAND}")


def main_runs(meta, runs):
    """The runs at their arm's chosen learning rate, meta["chosen_lr"][task][arm] (the lr sweep's
    other runs left out); none before the sweep has chosen."""
    chosen = meta.get("chosen_lr", {})
    return [r for r in runs if chosen.get(r["task"], {}).get(r["arm"]) == r["lr"]]


def sweep_rows(meta, runs):
    """The learning-rate sweep (first seed): per task, swept arm (every arm tried at more than one
    rate) and lr, the training loss of the last quarter of the steps (what chose), the test
    accuracy (%), and whether it was chosen."""
    chosen, seed = meta.get("chosen_lr", {}), meta["seeds"][0]
    rows = []
    for task in TASKS:
        for arm in ARMS:
            tried = {r["lr"]: r for r in runs if (r["task"], r["arm"], r["seed"]) == (task, arm, seed)}
            if len(tried) < 2:
                continue  # an ablation: it runs at its parameterization's budget-144 rate
            rows += [{"task": task, "arm": arm, "lr": lr, "train_loss": tried[lr]["train_loss_last_quarter"],
                      "accuracy": 100 * tried[lr]["accuracy"], "chosen": chosen.get(task, {}).get(arm) == lr}
                     for lr in meta["lr_grid"] if lr in tried]
    return rows


def accuracies(runs, task, arm):
    """{seed: accuracy in %} of one arm on one task."""
    return {r["seed"]: 100 * r["accuracy"] for r in runs if r["task"] == task and r["arm"] == arm}


def arm_stats(runs, task, arm):
    """One arm over its seeds: accuracies (%), mean, sample std, the mean training loss of the last
    quarter of the steps, trained parameters, total rank; None when the arm has no run on this task."""
    rs = sorted((r for r in runs if r["task"] == task and r["arm"] == arm), key=lambda r: r["seed"])
    if not rs:
        return None
    acc = [100 * r["accuracy"] for r in rs]
    return {"task": task, "arm": arm, "seeds": [r["seed"] for r in rs], "n": len(rs),
            "accuracies": acc, "mean": float(np.mean(acc)), "std": recorded_results.std(acc),
            "train_loss": float(np.mean([r["train_loss_last_quarter"] for r in rs])),
            "trained_parameters": rs[0]["trained_parameters"], "total_rank": rs[0]["total_rank"],
            "final_adapter_parameters": float(np.mean([r["final_adapter_parameters"] for r in rs]))}


def summarize(runs):
    """arm_stats of every recorded (task, arm), tasks then ARMS in order."""
    rows = [arm_stats(runs, task, arm) for task in TASKS for arm in ARMS]
    return [row for row in rows if row is not None]


# ------------------------------------------------------------------------------------ noise
def compare(diffs, unpaired_se=None):
    """The paired differences `diffs` (one per seed): n, mean, sample std, SE = std / sqrt(n),
    and whether |mean| <= NOISE_SE * SE ("inside": always True with fewer than 2 seeds, where
    there is no noise estimate). `unpaired_se`: the SE the same data would have unpaired, kept
    beside it to show what the pairing buys."""
    diffs = [float(d) for d in diffs]
    n = len(diffs)
    mean = float(np.mean(diffs)) if n else math.nan
    std = recorded_results.std(diffs) if n else math.nan
    se = std / math.sqrt(n) if n > 1 else math.nan
    return {"n": n, "diffs": diffs, "mean": mean, "std": std, "se": se,
            "unpaired_se": unpaired_se, "inside": n < 2 or abs(mean) <= NOISE_SE * se}


def paired(a, b):
    """compare() of a[s] - b[s] over the seeds both {seed: value} dicts have."""
    seeds = sorted(set(a) & set(b))
    xa, xb = [a[s] for s in seeds], [b[s] for s in seeds]
    unpaired = (math.sqrt(recorded_results.std(xa) ** 2 / len(seeds)
                          + recorded_results.std(xb) ** 2 / len(seeds)) if len(seeds) > 1 else math.nan)
    return {**compare([x - y for x, y in zip(xa, xb)], unpaired), "seeds": seeds}


def compare_arms(runs, task, better, worse):
    """Accuracy of arm `better` minus arm `worse` (points), paired by seed."""
    return paired(accuracies(runs, task, better), accuracies(runs, task, worse))


def group_cells(ranks, group):
    """The final ranks (a flat array) of a group of a {module name: rank}: "attention" or "ffn"
    (module type), "bottom" or "top" (the lower or upper half of the layers), or both words
    ("bottom ffn"). The same halves and types as `transformer.allocation_summary`."""
    grid, labels, layers = rank_grid(ranks)
    half = len(layers) // 2
    kinds = {"attention": [i for i, k in enumerate(labels) if k not in FFN],
             "ffn": [i for i, k in enumerate(labels) if k in FFN]}
    halves = {"bottom": slice(0, half), "top": slice(len(layers) - half, None)}
    words = group.split()
    if not words or any(w not in kinds and w not in halves for w in words):
        raise ConfigError(f"group must be made of {list(halves)} and/or {list(kinds)}, got {group!r}")
    rows = next((kinds[w] for w in words if w in kinds), list(range(len(labels))))
    cols = next((halves[w] for w in words if w in halves), slice(None))
    return grid[rows][:, cols].ravel()


def group_rank(ranks, group):
    """Mean final rank per matrix of a group (see group_cells)."""
    return float(group_cells(ranks, group).mean())


def group_share(ranks, group):
    """The group's share of the total rank (see group_cells); a uniform LoRA gives each group its
    share of the matrices (attention 2/3, FFN 1/3, each half of the layers 1/2)."""
    return float(group_cells(ranks, group).sum() / sum(ranks.values()))


def allocation_by_seed(runs, task, group, arm=FULL_ADALORA):
    """{seed: group_rank of the final ranks} of one AdaLoRA arm: where its allocator put the rank."""
    return {r["seed"]: group_rank(r["ranks"], group)
            for r in runs if r["task"] == task and r["arm"] == arm}


def compare_allocation(runs, task, more, less, arm=FULL_ADALORA):
    """Mean rank per matrix of group `more` minus group `less` (triplets), paired by seed."""
    return paired(allocation_by_seed(runs, task, more, arm), allocation_by_seed(runs, task, less, arm))


def pairing_gain(comparisons):
    """What pairing by seed buys over a list of compare() results: the ratio unpaired SE / paired
    SE per comparison (> 1: pairing is tighter), its median, min, max and how many exceed 1;
    comparisons with fewer than 2 seeds or a zero paired SE are left out."""
    ratios = np.array([c["unpaired_se"] / c["se"] for c in comparisons if c["n"] > 1 and c["se"] > 0])
    if not ratios.size:
        return {"n": 0, "median": math.nan, "min": math.nan, "max": math.nan, "tighter": 0}
    return {"n": int(ratios.size), "median": float(np.median(ratios)), "min": float(ratios.min()),
            "max": float(ratios.max()), "tighter": int((ratios > 1).sum())}


def verdict(comparison):
    """For a comparison oriented so that the paper predicts a positive difference."""
    if comparison["n"] < 2:
        return TOO_FEW_SEEDS
    if comparison["inside"]:
        return INSIDE_NOISE
    return AGREES if comparison["mean"] > 0 else DISAGREES


def seeds_needed(comparison, k=NOISE_SE):
    """How many seeds would put this mean difference outside k SE if the mean and the paired std
    stayed as measured: the smallest n >= 2 with |mean| > k std / sqrt(n) (None for a zero mean,
    or fewer than 2 seeds: no spread to extrapolate)."""
    mean, std = abs(comparison["mean"]), comparison["std"]
    if comparison["n"] < 2 or mean == 0:
        return None
    return max(2, math.floor((k * std / mean) ** 2) + 1)


# ------------------------------------------------------------------------------------ the tables
def budget_curve(runs, task):
    """{"lora": [arm_stats + "budget"], "adalora": [...]}: accuracy against the total rank."""
    return {family: [{**row, "budget": budget} for budget, arm in zip(BUDGETS, arms)
                     if (row := arm_stats(runs, task, arm)) is not None]
            for family, arms in BUDGET_ARMS.items()}


def placement_rows(runs, task):
    """LoRA at (about) one parameter count on all, attention, ffn, bottom or top matrices: arm_stats
    + "placement", and the paired difference to LoRA on all 36 ("vs_all")."""
    rows = []
    for placement, arm in PLACEMENT_ARMS.items():
        row = arm_stats(runs, task, arm)
        if row is not None:
            rows.append({**row, "placement": placement,
                         "vs_all": compare_arms(runs, task, arm, PLACEMENT_ARMS["all"])})
    return rows


def allocation_rows(runs, task, arm=FULL_ADALORA, groups=ALLOCATION_GROUPS):
    """Where AdaLoRA put its rank: per group (see group_cells) the mean final rank per matrix, one
    value per seed, their mean and std (the uniform rank is the budget / 36), and the group's mean
    share of the total rank beside the share a uniform allocation gives it."""
    rows = []
    for group in groups:
        per_seed = allocation_by_seed(runs, task, group, arm)
        if per_seed:
            values = [per_seed[s] for s in sorted(per_seed)]
            shares = [group_share(r["ranks"], group) for r in runs if r["task"] == task and r["arm"] == arm]
            rows.append({"group": group, "seeds": sorted(per_seed), "values": values,
                         "mean": float(np.mean(values)), "std": recorded_results.std(values),
                         "share": float(np.mean(shares)),
                         "uniform_share": len(group_cells(runs[0]["ranks"], group)) / len(runs[0]["ranks"])})
    return rows


def mean_allocation(runs, task, arm=FULL_ADALORA):
    """{module name: final rank averaged over seeds} of one AdaLoRA arm (for a rank heatmap)."""
    return mean_ranks(r["ranks"] for r in runs if r["task"] == task and r["arm"] == arm)


ABLATION_LABELS = {
    "ablation_sensitivity": "s(.) = Ibar(.) alone (Table 4's s = I)",
    "ablation_magnitude": "S_i = |lambda_i| (Table 4)",
    "ablation_random": "random S_i (our control)",
    "ablation_prune_lora": "Prune LoRA: doublets pruned (Table 4)",
    "ablation_svd": "SVD form, no pruning (Table 5's SVD-LoRA)",
    "ablation_gamma0": "gamma = 0, no regularizer (Table 5)",
    "ablation_gaussian": "P, Q ~ N(0, 0.02^2) (authors' code, PEFT)",
}


def ablation_rows(runs, task):
    """Full AdaLoRA (budget 144) and each ablation at the same budget: arm_stats + "label", and the
    paired difference full AdaLoRA minus the ablation ("full_minus")."""
    rows = []
    for arm in (FULL_ADALORA,) + ABLATION_ARMS:
        row = arm_stats(runs, task, arm)
        if row is not None:
            rows.append({**row, "label": ABLATION_LABELS.get(arm, "AdaLoRA (Ibar * Ubar, orthogonal P, Q)"),
                         "full_minus": compare_arms(runs, task, FULL_ADALORA, arm)})
    return rows


# ------------------------------------------------------------------------------------ the paper
# The AdaLoRA paper's tables (Zhang et al., ICLR 2023; DeBERTaV3-base, GLUE and SQuAD dev sets),
# every cell exactly as printed. The paired constants below (TABLE1_RTE, TABLE4_PRUNE_LORA, ...)
# are computed from these rows: each pair is (AdaLoRA's number, the other arm's number) in one cell.
# Table 1 (§4.1): "Results with DeBERTaV3-base on GLUE development set ... We report mean of 5 runs
# using different random seeds." Rows: (method, # params, MNLI m/mm, SST-2 Acc, CoLA Mcc,
# QQP Acc/F1, QNLI Acc, RTE Acc, MRPC Acc, STS-B Corr, All Ave.).
TABLE1_COLUMNS = ("Method", "# Params", "MNLI m/mm", "SST-2 Acc", "CoLA Mcc", "QQP Acc/F1", "QNLI Acc",
                  "RTE Acc", "MRPC Acc", "STS-B Corr", "All Ave.")
TABLE1 = (
    ("Full FT", "184M", (89.90, 90.12), 95.63, 69.19, (92.40, 89.80), 94.03, 83.75, 89.46, 91.60, 88.09),
    ("BitFit", "0.1M", (89.37, 89.91), 94.84, 66.96, (88.41, 84.95), 92.24, 78.70, 87.75, 91.35, 86.02),
    ("HAdapter", "1.22M", (90.13, 90.17), 95.53, 68.64, (91.91, 89.27), 94.11, 84.48, 89.95, 91.48, 88.12),
    ("PAdapter", "1.18M", (90.33, 90.39), 95.61, 68.77, (92.04, 89.40), 94.29, 85.20, 89.46, 91.54, 88.24),
    ("LoRA r=8", "1.33M", (90.65, 90.69), 94.95, 69.82, (91.99, 89.38), 93.87, 85.20, 89.95, 91.60, 88.34),
    ("AdaLoRA", "1.27M", (90.76, 90.79), 96.10, 71.45, (92.23, 89.74), 94.55, 88.09, 90.69, 91.84, 89.31),
    ("HAdapter", "0.61M", (90.12, 90.23), 95.30, 67.87, (91.65, 88.95), 93.76, 85.56, 89.22, 91.30, 87.93),
    ("PAdapter", "0.60M", (90.15, 90.28), 95.53, 69.48, (91.62, 88.86), 93.98, 84.12, 89.22, 91.52, 88.04),
    ("HAdapter", "0.31M", (90.10, 90.02), 95.41, 67.65, (91.54, 88.81), 93.52, 83.39, 89.25, 91.31, 87.60),
    ("PAdapter", "0.30M", (89.89, 90.06), 94.72, 69.06, (91.40, 88.62), 93.87, 84.48, 89.71, 91.38, 87.90),
    ("LoRA r=2", "0.33M", (90.30, 90.38), 94.95, 68.71, (91.61, 88.91), 94.03, 85.56, 89.71, 91.68, 88.15),
    ("AdaLoRA", "0.32M", (90.66, 90.70), 95.80, 70.04, (91.78, 89.16), 94.49, 87.36, 90.44, 91.63, 88.86),
)


def table1_cell(method, params, column):
    """One cell of TABLE1, by method, parameter count ("1.27M") and column name ("RTE Acc")."""
    row = next(r for r in TABLE1 if r[:2] == (method, params))
    return row[TABLE1_COLUMNS.index(column)]


# AdaLoRA against LoRA at the two budgets where Table 1 has both: 1.27M vs r=8 (1.33M), 0.32M vs r=2 (0.33M).
TABLE1_MATCHED = (("1.27M", "LoRA r=8", "1.33M"), ("0.32M", "LoRA r=2", "0.33M"))
TABLE1_AVERAGE = tuple((table1_cell("AdaLoRA", a, "All Ave."), table1_cell(lora, p, "All Ave."))
                       for a, lora, p in TABLE1_MATCHED)
TABLE1_RTE = tuple((table1_cell("AdaLoRA", a, "RTE Acc"), table1_cell(lora, p, "RTE Acc"))
                   for a, lora, p in TABLE1_MATCHED)
# Table 2 (§4.2), the EM half of its EM/F1 cells: (AdaLoRA, LoRA) at 0.08 / 0.16 / 0.32 / 0.65%.
TABLE2_EM = ((87.2, 86.4), (87.5, 86.6), (87.5, 86.7), (87.6, 86.7),  # SQuAD v1.1
             (85.6, 84.7), (85.7, 83.6), (85.5, 84.5), (86.0, 85.0))  # SQuAD v2.0
# Table 4 (§4.4): "We present two ablation studies in this table: (i) Comparison between AdaLoRA
# and structured pruning on LoRA. (ii) Comparison of different importance metrics for AdaLoRA."
TABLE4_COLUMNS = tuple((task, budget) for task in ("SST-2", "RTE", "CoLA")
                       for budget in ("0.08%", "0.16%", "0.65%"))
TABLE4 = {
    "Prune LoRA":       (94.84, 94.50, 94.95, 86.28, 86.15, 87.00, 66.71, 69.29, 69.57),
    "AdaLoRA":          (95.52, 95.80, 96.10, 87.36, 87.73, 88.09, 70.21, 70.04, 71.45),
    "s(.) = I(.)":      (94.61, 95.30, 95.64, 87.36, 87.71, 88.10, 66.71, 68.83, 70.19),
    "S_i = |lambda_i|": (95.41, 95.41, 95.87, 87.00, 86.28, 88.00, 67.67, 68.44, 70.38),
}
# Table 5 (§4.4): "We present ablation studies about SVD-based adaptation, orthogonal
# regularization, and budget allocation in this table. For MNLI, we report the average score of
# m/mm acc." None stands for the table's "-" (no run at that budget).
TABLE5_COLUMNS = tuple((task, budget) for task in ("SST-2", "MNLI")
                       for budget in ("0.08%", "0.16%", "0.32%", "0.65%"))
TABLE5 = {
    "LoRA":               (94.38, 94.95, None, 94.95, 90.19, 90.34, None, 90.57),
    "LoRA_regu":          (None, 94.61, 94.72, 94.61, None, 90.30, 90.40, 90.66),
    "SVD-LoRA":           (95.33, 95.18, 95.07, 95.53, 90.28, 90.25, 90.52, 90.62),
    "AdaLoRA, gamma = 0": (95.41, 95.10, 95.30, 95.10, 90.37, 90.34, 90.56, 90.43),
    "AdaLoRA":            (95.64, 95.80, 96.10, 96.10, 90.65, 90.68, 90.66, 90.77),
}


def table_pairs(table, other, first="AdaLoRA"):
    """((first, other), ...) cell by cell of one of TABLE4, TABLE5, cells with a "-" left out."""
    return tuple((a, b) for a, b in zip(table[first], table[other]) if a is not None and b is not None)


TABLE4_PRUNE_LORA = table_pairs(TABLE4, "Prune LoRA")       # SST-2, RTE, CoLA at 0.08 / 0.16 / 0.65%
TABLE4_SENSITIVITY = table_pairs(TABLE4, "s(.) = I(.)")
TABLE4_MAGNITUDE = table_pairs(TABLE4, "S_i = |lambda_i|")
TABLE5_GAMMA0 = table_pairs(TABLE5, "AdaLoRA, gamma = 0")   # SST-2 then MNLI, 0.08 / 0.16 / 0.32 / 0.65%
TABLE5_SVD = table_pairs(TABLE5, "SVD-LoRA")


def paper_margins(cells):
    """(cells where the first number is higher, cells, smallest margin, largest margin)."""
    margins = [round(a - b, 2) for a, b in cells]
    return sum(m > 0 for m in margins), len(margins), min(margins), max(margins)


@dataclass(frozen=True)
class Finding:
    source: str         # where in the paper: table, figure, section
    claim: str          # the finding, in the direction the paper reports
    comparisons: tuple  # ((more, less), ...): our arms (or allocation groups) the paper puts ahead, behind
    paper: tuple = ()   # ((what, cells), ...): (AdaLoRA-side, other) cells of the paper's tables
    note: str = ""      # the paper's own words, where a figure has no printed numbers, or a caveat
    measure: str = "accuracy"  # "accuracy" (points) or "allocation" (mean rank per matrix, triplets)

    def paper_summary(self):
        """The paper's side in words: per group of cells, how many favour the finding and by how much."""
        parts = []
        for what, cells in self.paper:
            ahead, n, low, high = paper_margins(cells)
            parts.append(f"{what}: {ahead} of {n} cells, by {low:+.2f} to {high:+.2f}")
        return "; ".join(parts + [self.note] * bool(self.note))


PLOT = "a plot, no printed numbers; the paper's words"
FIG3_WORDS = f'{PLOT} (§4.4): "AdaLoRA always prefers to allocating more budget to FFNs and top layers"'
FINDINGS = (
    Finding("Fig. 1, §1", "LoRA on the FFN only beats LoRA on attention only (same parameters)",
            (("placement_ffn", "placement_attention"),),
            note=f'{PLOT}: "fine-tuning feed-forward networks (FFN) achieves better performance than '
                 'self-attention modules"'),
    Finding("Fig. 1, §1", "LoRA on the top layers beats LoRA on the bottom layers (same parameters)",
            (("placement_top", "placement_bottom"),),
            note=f'{PLOT}: "weight matrices in top layers are more important than those in bottom layers"'),
    Finding("Tables 1-2, Fig. 2", "AdaLoRA beats LoRA at every matched budget",
            tuple(zip(BUDGET_ARMS["adalora"], BUDGET_ARMS["lora"])),
            (("GLUE average", TABLE1_AVERAGE), ("RTE", TABLE1_RTE), ("SQuAD EM", TABLE2_EM)),
            'Fig. 2 is a plot; §4.4: AdaLoRA "achieves consistent performance improvement under all '
            'the budget levels compared with the baseline"'),
    Finding("Table 4, §4.4", "AdaLoRA beats Prune LoRA (LoRA doublets pruned by importance)",
            ((FULL_ADALORA, "ablation_prune_lora"),), (("SST-2, RTE, CoLA", TABLE4_PRUNE_LORA),)),
    Finding("Table 4, §4.4", "Ibar * Ubar beats the sensitivity alone, s(.) = I(.)",
            ((FULL_ADALORA, "ablation_sensitivity"),), (("SST-2, RTE, CoLA", TABLE4_SENSITIVITY),),
            "AdaLoRA's two non-wins are RTE's: a tie at 0.08% (87.36 both) and 0.01 below s = I at "
            "0.65% (88.09 vs 88.10); at 0.16% it is 0.02 ahead (87.73 vs 87.71)"),
    Finding("Table 4, §4.4", "the triplet score beats S_i = |lambda_i|",
            ((FULL_ADALORA, "ablation_magnitude"),), (("SST-2, RTE, CoLA", TABLE4_MAGNITUDE),)),
    Finding("Table 5, §4.4", "AdaLoRA beats the SVD form without pruning (SVD-LoRA)",
            ((FULL_ADALORA, "ablation_svd"),), (("SST-2, MNLI", TABLE5_SVD),),
            'SVD-LoRA is "fine-tuning only with the proposed SVD-based adaptation in (3) and (4)": '
            "the regularizer (4) kept, no pruning"),
    Finding("Table 5, §4.4", "the regularizer helps: gamma > 0 beats gamma = 0",
            ((FULL_ADALORA, "ablation_gamma0"),), (("SST-2, MNLI", TABLE5_GAMMA0),)),
    Finding("Fig. 3, §4.4", "AdaLoRA gives the top layers more rank than the bottom ones",
            (("top", "bottom"),), note=FIG3_WORDS, measure="allocation"),
    Finding("Fig. 3, §4.4", "AdaLoRA gives the FFN matrices more rank than the attention ones",
            (("ffn", "attention"),), note=FIG3_WORDS, measure="allocation"),
)


def paper_vs_us(runs, findings=FINDINGS):
    """One row per finding, task and comparison: the paper's side (summary of its cells), ours
    (paired difference over seeds, in the paper's direction) and the verdict."""
    rows = []
    for finding in findings:
        for task in TASKS:
            for more, less in finding.comparisons:
                if finding.measure == "allocation":
                    comparison = compare_allocation(runs, task, more, less)
                else:
                    comparison = compare_arms(runs, task, more, less)
                if comparison["n"]:
                    rows.append({"finding": finding, "task": task, "more": more, "less": less,
                                 "ours": comparison, "verdict": verdict(comparison)})
    return rows


def verdict_counts(rows):
    """{verdict: how many rows}, in the order agrees, disagrees, inside noise (too few seeds if any)."""
    counts = {v: sum(row["verdict"] == v for row in rows) for v in (AGREES, DISAGREES, INSIDE_NOISE, TOO_FEW_SEEDS)}
    return {v: c for v, c in counts.items() if c or v != TOO_FEW_SEEDS}


# ------------------------------------------------------------------------------------ live
def score_experiment(score, seeds=range(8), *, baseline="importance", planted_ranks=PLANTED_RANKS,
                     init_r=8, total_steps=1000):
    """AdaLoRA on notebook 06's planted-rank task with the allocator's S_i = `score` and with
    `baseline`, same seed (same task, init and batches) for both: the knob is `score` alone.
    Notebook 06's settings: SVD adapters of rank `init_r` pruned to the planted total, SGD, warm-up
    a fifth of the steps, the final phase three tenths.

    Returns {"score", "baseline", "planted", "runs": per seed {"seed", score: {...}, baseline: {...}}
    with each side's "ranks", "misplaced" (triplets in the wrong layer) and "relative_loss" (test
    loss / the frozen network's), "misplaced": compare() of score minus baseline}.
    """
    if score not in SCORES or baseline not in SCORES:
        raise ConfigError(f"score and baseline must be in {SCORES}, got {score!r}, {baseline!r}")
    out = []
    for seed in seeds:
        task = make_planted_task(planted_ranks, seed=seed)
        row = {"seed": int(seed)}
        for s in dict.fromkeys((score, baseline)):
            res = train_planted(task, adapter="svd", r=init_r, target_budget=task.total_rank,
                                total_steps=total_steps, warmup_steps=total_steps // 5,
                                final_steps=3 * total_steps // 10, seed=seed, score=s)
            ranks = [int(k) for k in res.ranks.values()]
            row[s] = {"ranks": ranks, "misplaced": allocation_error(ranks, planted_ranks),
                      "relative_loss": res.relative_loss}
        out.append(row)
    misplaced = compare([row[score]["misplaced"] - row[baseline]["misplaced"] for row in out])
    return {"score": score, "baseline": baseline, "planted": list(planted_ranks), "runs": out,
            "misplaced": misplaced}
