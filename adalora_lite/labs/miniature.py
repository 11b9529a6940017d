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

Two arms are compared paired by seed, and a difference within NOISE_SE paired standard errors
is "inside the noise" (noise.py says why and how):

    compare_arms(runs, task, a, b)    noise.paired() of a - b (accuracy points) over their common seeds
    compare_allocation(runs, task, more, less)   the same for the mean rank of two groups of matrices
    FINDINGS, paper_vs_us(runs)       each of the paper's findings next to ours, with its verdict
    verdict_counts(rows)              how many findings agree, disagree, or cannot tell

The paper's own numbers: paper_tables.py. The live experiment on the planted task that notebook 09
also runs: score_experiment.py.
"""
from dataclasses import dataclass

import numpy as np

from .. import results as recorded_results
from ..errors import ConfigError
from .minilm_matrices import FFN, mean_ranks, rank_grid
from .noise import AGREES, DISAGREES, INSIDE_NOISE, TOO_FEW_SEEDS, paired, verdict
from .paper_tables import (TABLE1_AVERAGE, TABLE1_RTE, TABLE2_EM, TABLE4_MAGNITUDE, TABLE4_PRUNE_LORA,
                           TABLE4_SENSITIVITY, TABLE5_GAMMA0, TABLE5_SVD, paper_margins)

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


# ------------------------------------------------------------------------------------ paired by seed
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
