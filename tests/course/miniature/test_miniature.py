"""Notebook 09 (the paper in miniature): the summaries, the noise rule and the verdicts, the figures
and tables, and the checkers, on a small synthetic recording whose answers are known.

One file for the lab, viz and exercises layers: they share the synthetic recording below.
"""
import math

import numpy as np
import pytest

from adalora_lite.errors import ConfigError
from adalora_lite.exercises import miniature as ex
from adalora_lite.labs import miniature as mini
from adalora_lite.labs import noise
from adalora_lite.labs import paper_tables as paper
from adalora_lite.labs.score_experiment import score_experiment
from adalora_lite.labs.minilm_matrices import MODULES
from adalora_lite.viz import miniature as viz

NAMES = [f"bert.encoder.layer.{k}.{path}" for k in range(6) for path, _ in MODULES]
SEED_SHIFT = {0: 0.0, 1: 4.0, 2: -4.0}  # what a seed does to every arm alike (head init, batches)
CHOSEN = {"lora": 3e-3, "adalora": 1e-2}  # by parameterization: LoRA's (LoRA, Prune LoRA), AdaLoRA's


def family(method):
    return "lora" if method in ("lora", "prune_lora") else "adalora"


def method_of(arm):
    if arm == "ablation_prune_lora" or arm.startswith(("lora_", "placement_")):
        return "prune_lora" if arm == "ablation_prune_lora" else "lora"
    return "svd" if arm == "ablation_svd" else "adalora"


def run(task, arm, seed, accuracy, *, lr=None, ranks=None):
    method = method_of(arm)
    return {"task": task, "arm": arm, "seed": seed, "method": method,
            "lr": lr or CHOSEN[family(method)], "accuracy": accuracy / 100,
            "train_loss_last_quarter": 0.3, "total_rank": 144, "trained_parameters": 166_658,
            "final_adapter_parameters": 165_888, "ranks": ranks or {n: 4 for n in NAMES}}


def skewed_ranks(ffn, attention_bottom, attention_top):
    """144 triplets: `ffn` per FFN matrix, attention by half (checks group_rank's halves)."""
    out = {}
    for name in NAMES:
        layer = int(name.split(".")[3])
        is_ffn = name.endswith(("intermediate.dense", "layer.%d.output.dense" % layer))
        out[name] = ffn if is_ffn else (attention_bottom if layer < 3 else attention_top)
    return out


# Per arm, the accuracy on seed 0 before SEED_SHIFT; a jitter per seed keeps the paired std non-zero.
BASE = {"lora_36": 80, "adalora_36": 83, "lora_72": 82, "adalora_72": 82.2, "lora_144": 84,
        "adalora_144": 84, "lora_288": 85, "adalora_288": 82,
        "placement_attention": 81, "placement_ffn": 84.5, "placement_bottom": 80, "placement_top": 84.4,
        "ablation_sensitivity": 83.9, "ablation_magnitude": 80, "ablation_random": 78,
        "ablation_prune_lora": 86, "ablation_svd": 82, "ablation_gamma0": 84.1, "ablation_gaussian": 84}
JITTER = (0.1, -0.1, 0.05)  # per seed; a few arms get their own, to land inside the noise
OWN_JITTER = {"adalora_144": (0, 0, 0), "adalora_72": (0.6, -0.5, 0.05), "placement_top": (0.4, -0.3, 0.0),
              "ablation_gamma0": (0.5, -0.4, 0.0)}


def accuracy(arm, seed):
    return BASE[arm] + SEED_SHIFT[seed] + OWN_JITTER.get(arm, JITTER)[seed]


def synthetic(seeds=(0, 1, 2), tasks=("binary", "three_class")):
    meta = {"seeds": [0, 1, 2], "lr_grid": [1e-3, 3e-3, 1e-2],
            "chosen_lr": {t: {arm: CHOSEN[family(method_of(arm))] for arm in mini.ARMS} for t in tasks}}
    runs = [run(t, arm, s, accuracy(arm, s), ranks=skewed_ranks(6, 2, 4) if arm == "adalora_144" else None)
            for t in tasks for s in seeds for arm in mini.ARMS]
    # the lr sweep's runs at the rates not chosen: in the file, not in the tables
    runs += [run(t, f"{family}_144", 0, 50.0, lr=lr) for t in tasks for family in CHOSEN
             for lr in meta["lr_grid"] if lr != CHOSEN[family]]
    return meta, runs


@pytest.fixture(scope="module")
def recording():
    meta, runs = synthetic()
    return meta, mini.main_runs(meta, runs)


# ------------------------------------------------------------------------------------ lab
def test_main_runs_keep_each_arm_at_its_chosen_learning_rate():
    meta, runs = synthetic()
    kept = mini.main_runs(meta, runs)
    assert len(kept) == 2 * 3 * len(mini.ARMS)
    assert all(r["lr"] == meta["chosen_lr"][r["task"]][r["arm"]] for r in kept)
    assert mini.main_runs({"seeds": [0]}, runs) == []  # before the sweep has chosen


def test_sweep_rows_mark_the_chosen_rate():
    meta, runs = synthetic()
    rows = mini.sweep_rows(meta, runs)
    assert len(rows) == 2 * 2 * 3
    assert [r["chosen"] for r in rows[:3]] == [False, True, False]  # LoRA: 3e-3
    assert rows[0]["accuracy"] == 50.0


def test_arm_stats_use_the_sample_std_in_points(recording):
    _, runs = recording
    row = mini.arm_stats(runs, "binary", "lora_144")
    acc = [84 + 0.1, 84 + 4 - 0.1, 84 - 4 + 0.05]
    assert row["n"] == 3 and row["seeds"] == [0, 1, 2]
    assert row["mean"] == pytest.approx(np.mean(acc))
    assert row["std"] == pytest.approx(np.std(acc, ddof=1))
    assert mini.arm_stats(runs, "binary", "no_such_arm") is None
    assert [(r["task"], r["arm"]) for r in mini.summarize(runs)][:2] == [("binary", "lora_36"),
                                                                         ("binary", "lora_72")]


def test_compare_pairs_by_seed_and_applies_the_noise_rule():
    c = noise.compare([1.0, 2.0, 3.0])
    assert c["mean"] == 2.0 and c["std"] == 1.0 and c["se"] == pytest.approx(1 / math.sqrt(3))
    assert not c["inside"]  # 2 > 2 x 0.577
    assert noise.compare([1.0, -1.0, 0.5])["inside"]
    assert noise.compare([0.0, 0.0, 0.0])["inside"]  # no difference at all: inside, not "agrees"
    assert noise.compare([3.0])["inside"] and math.isnan(noise.compare([3.0])["se"])
    # shared seed effects cancel when paired: the unpaired SE sees them, the paired one does not
    a, b = {0: 80.0, 1: 90.0, 2: 70.0}, {0: 79.0, 1: 89.1, 2: 68.9}
    p = noise.paired(a, b)
    assert p["seeds"] == [0, 1, 2] and p["se"] < 0.1 < 5 < p["unpaired_se"]
    assert noise.paired({0: 1.0, 1: 2.0}, {1: 0.0, 2: 5.0})["diffs"] == [2.0]  # common seeds only


def test_pairing_gain(recording):
    _, runs = recording
    a, b = {0: 80.0, 1: 90.0, 2: 70.0}, {0: 79.0, 1: 89.1, 2: 68.9}
    gain = noise.pairing_gain([noise.paired(a, b), noise.compare([1.0]), noise.compare([2.0, 2.0, 2.0])])
    assert gain["n"] == 1 and gain["tighter"] == 1 and gain["median"] > 50
    assert noise.pairing_gain([])["n"] == 0


@pytest.mark.parametrize("diffs, expected", [
    ([3.0, 3.2, 2.8], noise.AGREES),             # better by far
    ([0.5, -0.4, 0.2], noise.INSIDE_NOISE),      # inside the noise
    ([-3.0, -2.9, -3.1], noise.DISAGREES),       # worse by far
    ([1.0], noise.TOO_FEW_SEEDS)])
def test_verdict(diffs, expected):
    assert noise.verdict(noise.compare(diffs)) == expected


def test_verdicts_from_arms(recording):
    _, runs = recording
    # AdaLoRA 83 vs LoRA 80 at 36, same seed shifts: far better although each arm's std is 4 points
    assert noise.verdict(mini.compare_arms(runs, "binary", "adalora_36", "lora_36")) == noise.AGREES
    assert noise.verdict(mini.compare_arms(runs, "binary", "adalora_72", "lora_72")) == noise.INSIDE_NOISE
    assert noise.verdict(mini.compare_arms(runs, "binary", "adalora_288", "lora_288")) == noise.DISAGREES


def test_seeds_needed():
    c = noise.compare([0.5, -0.2, 0.9])  # mean 0.4, std 0.557...
    x = (2 * c["std"] / 0.4) ** 2
    assert noise.seeds_needed(c) == math.floor(x) + 1
    assert 2 * c["std"] / math.sqrt(noise.seeds_needed(c)) < 0.4 <= 2 * c["std"] / math.sqrt(noise.seeds_needed(c) - 1)
    assert noise.seeds_needed(noise.compare([3.0, 3.0, 3.0])) == 2
    assert noise.seeds_needed(noise.compare([1.0, -1.0])) is None
    assert noise.seeds_needed(noise.compare([1.0])) is None


def test_budget_curve_and_placement_rows(recording):
    _, runs = recording
    curve = mini.budget_curve(runs, "binary")
    assert [r["budget"] for r in curve["lora"]] == [36, 72, 144, 288]
    assert curve["adalora"][0]["accuracies"][0] == pytest.approx(accuracy("adalora_36", 0))  # seed 0 first
    places = mini.placement_rows(runs, "binary")
    assert [p["placement"] for p in places] == ["all", "attention", "ffn", "bottom", "top"]
    assert places[0]["vs_all"]["mean"] == 0
    assert places[2]["vs_all"]["mean"] == pytest.approx(0.5)


def test_group_rank_and_allocation_rows(recording):
    ranks = skewed_ranks(6, 2, 4)
    assert mini.group_rank(ranks, "ffn") == 6 and mini.group_rank(ranks, "attention") == 3
    assert mini.group_rank(ranks, "bottom") == pytest.approx((6 * 6 + 12 * 2) / 18)
    assert mini.group_rank(ranks, "bottom attention") == 2 and mini.group_rank(ranks, "top ffn") == 6
    assert sum(ranks.values()) == 144
    with pytest.raises(ConfigError):
        mini.group_rank(ranks, "middle")
    _, runs = recording
    rows = {r["group"]: r for r in mini.allocation_rows(runs, "binary")}
    assert rows["ffn"]["values"] == [6, 6, 6] and rows["attention"]["std"] == 0
    assert rows["ffn"]["share"] == pytest.approx(72 / 144) and rows["ffn"]["uniform_share"] == pytest.approx(1 / 3)
    assert mini.group_share(ranks, "top") == pytest.approx(84 / 144)
    assert mini.mean_allocation(runs, "binary") == ranks


def test_ablation_rows_compare_full_adalora_with_each_ablation(recording):
    _, runs = recording
    rows = mini.ablation_rows(runs, "three_class")
    assert [r["arm"] for r in rows] == [mini.FULL_ADALORA, *mini.ABLATION_ARMS]
    by_arm = {r["arm"]: r for r in rows}
    assert noise.verdict(by_arm["ablation_random"]["full_minus"]) == noise.AGREES
    assert noise.verdict(by_arm["ablation_prune_lora"]["full_minus"]) == noise.DISAGREES
    assert by_arm["ablation_gaussian"]["full_minus"]["inside"]
    assert all(r["label"] for r in rows)


def test_paper_margins_from_the_papers_tables():
    # Table 5: regularized AdaLoRA beats gamma = 0 in all 8 settings, by 0.10 to 1.00 points
    assert paper.paper_margins(paper.TABLE5_GAMMA0) == (8, 8, 0.10, 1.00)
    assert paper.paper_margins(paper.TABLE5_SVD) == (8, 8, 0.14, 1.03)
    assert paper.paper_margins(paper.TABLE1_AVERAGE) == (2, 2, 0.71, 0.97)
    assert paper.paper_margins(paper.TABLE1_RTE)[3] == 2.89
    # Table 4: AdaLoRA ahead of Prune LoRA in 9 of 9 cells; s = I ties on RTE 0.08% and leads at 0.65%
    assert paper.paper_margins(paper.TABLE4_PRUNE_LORA) == (9, 9, 0.68, 3.50)
    assert paper.paper_margins(paper.TABLE4_SENSITIVITY) == (7, 9, -0.01, 3.50)
    assert paper.paper_margins(paper.TABLE4_MAGNITUDE) == (9, 9, 0.09, 2.54)
    rte = [paper.TABLE4_COLUMNS.index(("RTE", b)) for b in ("0.08%", "0.16%", "0.65%")]
    assert [paper.TABLE4["AdaLoRA"][i] for i in rte] == [87.36, 87.73, 88.09]
    assert [paper.TABLE4["s(.) = I(.)"][i] for i in rte] == [87.36, 87.71, 88.10]
    assert paper.table1_cell("AdaLoRA", "0.32M", "RTE Acc") == 87.36
    finding = next(f for f in mini.FINDINGS if f.comparisons == ((mini.FULL_ADALORA, "ablation_gamma0"),))
    assert "8 of 8 cells, by +0.10 to +1.00" in finding.paper_summary()
    assert "no printed numbers" in mini.FINDINGS[0].paper_summary()


def test_paper_vs_us_rows_carry_the_computed_verdicts(recording):
    _, runs = recording
    rows = mini.paper_vs_us(runs)
    n_comparisons = sum(len(f.comparisons) for f in mini.FINDINGS)
    assert len(rows) == 2 * n_comparisons
    get = {(r["task"], r["more"], r["less"]): r["verdict"] for r in rows}
    assert get[("binary", "placement_ffn", "placement_attention")] == noise.AGREES
    assert get[("binary", "adalora_144", "ablation_prune_lora")] == noise.DISAGREES
    assert get[("binary", "adalora_144", "ablation_gamma0")] == noise.INSIDE_NOISE
    assert get[("binary", "top", "bottom")] == noise.AGREES          # allocation: 4.67 vs 3.33, every seed
    assert get[("binary", "ffn", "attention")] == noise.AGREES
    counts = mini.verdict_counts(rows)
    assert sum(counts.values()) == len(rows) and noise.TOO_FEW_SEEDS not in counts


def test_partial_recordings_give_partial_tables():
    meta, runs = synthetic(seeds=(0,), tasks=("binary",))
    runs = [r for r in mini.main_runs(meta, runs) if not r["arm"].startswith("ablation")]
    assert [r["arm"] for r in mini.ablation_rows(runs, "binary")] == [mini.FULL_ADALORA]
    assert {r["verdict"] for r in mini.paper_vs_us(runs)} == {noise.TOO_FEW_SEEDS}
    assert mini.budget_curve(runs, "three_class") == {"lora": [], "adalora": []}
    for text in (viz.budget_table(runs), viz.ablation_table(runs), viz.placement_table(runs)):
        assert text.splitlines()[0]
    viz.budget_figure(runs), viz.placement_figure(runs)


def test_score_experiment_on_the_planted_task():
    out = score_experiment("random", seeds=range(2), total_steps=300)
    assert out["score"] == "random" and out["planted"] == [1, 4, 2, 5]
    row = out["runs"][0]
    assert sum(row["random"]["ranks"]) == sum(row["importance"]["ranks"]) == 12
    assert out["misplaced"]["diffs"] == [r["random"]["misplaced"] - r["importance"]["misplaced"]
                                         for r in out["runs"]]
    same = score_experiment("importance", seeds=range(1), total_steps=300)
    assert same["misplaced"]["diffs"] == [0.0] and set(same["runs"][0]) == {"seed", "importance"}
    with pytest.raises(ConfigError):
        score_experiment("loudness")


# ------------------------------------------------------------------------------------ viz
def test_budget_figure_is_log_x_with_error_bars(recording):
    _, runs = recording
    fig = viz.budget_figure(runs)
    assert len(fig.data) == 4  # 2 tasks x (LoRA, AdaLoRA)
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [36, 72, 144, 288]
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "test accuracy (%)"
    assert all(len(t.error_y.array) == 4 for t in fig.data)
    assert sum(t.showlegend is not False for t in fig.data) == 2
    assert [t.xaxis for t in fig.data] == ["x", "x", "x2", "x2"]  # one panel per task
    assert fig.data[2].customdata[0][0] == 36 and fig.data[2].x[0] < 36 < fig.data[3].x[0]


def test_placement_figure_shows_placements_and_allocation(recording):
    _, runs = recording
    fig = viz.placement_figure(runs)
    assert len(fig.data) == 4
    assert [x.replace("<br>", " ") for x in fig.data[0].x] == list(viz.PLACEMENT_LABELS.values())
    assert [t.xaxis for t in fig.data] == ["x", "x2", "x3", "x4"]  # each task in its own row
    assert list(fig.data[1].y) == [3, 6, pytest.approx(10 / 3, abs=1e-4), pytest.approx(14 / 3, abs=1e-4)]
    for axis in ("xaxis", "yaxis", "xaxis2", "yaxis2", "xaxis4", "yaxis4"):
        assert fig.layout[axis].title.text, axis


def test_difference_figure_marks_the_noise_band(recording):
    _, runs = recording
    fig = viz.difference_figure(runs)
    means = [t for t in fig.data if t.name.startswith("mean")]
    assert len(means) == 2 and len(means[0].x) == len(mini.ABLATION_ARMS)
    assert all(e >= 0 for e in means[0].error_x.array)
    assert [t.xaxis for t in means] == ["x", "x2"]
    assert fig.layout.xaxis.title.text


def test_tables(recording):
    meta, runs = synthetic()
    sweep = viz.sweep_table(meta, runs).splitlines()
    assert len(sweep) == 3 + 4  # two header lines, a rule, one row per task and swept arm
    assert sweep[3].split() == ["binary", "lora_144", "0.300", "0.300", "0.300", "50.0", "84.1", "50.0", "0.003"]
    partial = viz.sweep_table({**meta, "lr_grid": [3e-4] + meta["lr_grid"]}, runs).splitlines()
    assert partial[3].split()[2] == "-"  # a rate this arm never tried
    _, runs = recording
    budget = viz.budget_table(runs).splitlines()
    assert len(budget) == 2 + 8 and "+3.00" in budget[2] and budget[2].endswith("no")
    assert "0.300 / 0.300" in budget[2]  # the training losses, LoRA then AdaLoRA
    one_seed = viz.budget_table([r for r in runs if r["seed"] == 0]).splitlines()[2]
    assert one_seed.endswith("+3.00      -  -")  # no noise estimate from one seed
    assert "84.5 ±" in viz.placement_table(runs)
    assert "6.00 ± 0.00" in viz.allocation_table(runs) and "50.0%" in viz.allocation_table(runs)
    assert "random S_i" in viz.ablation_table(runs)
    text = viz.paper_vs_us_table(mini.paper_vs_us(runs))
    assert text.startswith("Fig. 1, §1:") and "-> agrees" in text and "-> disagrees" in text
    assert "8 of 8 cells, by +0.10 to +1.00" in text


def test_score_table():
    out = score_experiment("magnitude", seeds=range(2), total_steps=300)
    lines = viz.score_table(out).splitlines()
    assert len(lines) == 1 + 2 + 3 and lines[1].startswith("seed 0: magnitude [")
    assert "inside the noise:" in lines[-1]


# ------------------------------------------------------------------------------------ exercises
A = {0: 84.0, 1: 88.5, 2: 80.2}
B = {0: 83.0, 1: 88.0, 2: 79.6}   # differences 1.0, 0.5, 0.6: mean 0.7, std 0.2646, SE 0.1528


def test_check_paired_se():
    d = np.array([1.0, 0.5, 0.6])
    se = d.std(ddof=1) / np.sqrt(3)
    assert ex.check_paired_se(A, B, se) and ex.check_paired_se(A, B, round(se, 3))
    assert not ex.check_paired_se(A, B, None) and "Not answered" in repr(ex.check_paired_se(A, B, None))
    assert "ddof" in repr(ex.check_paired_se(A, B, d.std(ddof=0) / np.sqrt(3)))
    assert "sqrt(n)" in repr(ex.check_paired_se(A, B, d.std(ddof=1)))
    unpaired = np.sqrt((np.var(list(A.values()), ddof=1) + np.var(list(B.values()), ddof=1)) / 3)
    assert "unpaired" in repr(ex.check_paired_se(A, B, unpaired))
    assert not ex.check_paired_se(A, B, 7.0) and not ex.check_paired_se(A, B, "small")


def test_check_inside_noise():
    assert ex.check_inside_noise(A, B, False)            # 0.7 > 2 x 0.153
    assert not ex.check_inside_noise(A, B, True)
    noisy = {0: 83.0, 1: 89.5, 2: 79.2}                  # differences 1.0, -1.0, 1.0
    assert ex.check_inside_noise(A, noisy, True) and not ex.check_inside_noise(A, noisy, False)
    assert not ex.check_inside_noise(A, B, None) and not ex.check_inside_noise(A, B, "no")


def test_check_seeds_needed():
    c = noise.compare([1.0, 0.5, 0.6])
    assert ex.check_seeds_needed(A, B, noise.seeds_needed(c)) and noise.seeds_needed(c) == 2
    noisy = {0: 83.0, 1: 88.0, 2: 80.1}                  # differences 1.0, 0.5, 0.1
    c = noise.compare([1.0, 0.5, 0.1])
    n = noise.seeds_needed(c)
    assert ex.check_seeds_needed(A, noisy, n)
    x = (2 * c["std"] / c["mean"]) ** 2
    assert "strictly larger" in repr(ex.check_seeds_needed(A, noisy, math.floor(x)))
    assert not ex.check_seeds_needed(A, noisy, 1000) and not ex.check_seeds_needed(A, noisy, None)
    assert not ex.check_seeds_needed(A, noisy, "many")
    assert not ex.check_seeds_needed({0: 1.0}, {0: 0.0}, 2) and not ex.check_seeds_needed({}, {}, None)


def test_check_placement_prediction(recording):
    _, runs = recording
    assert ex.check_placement_prediction(runs, "binary", "ffn")                 # the best mean
    right_by_noise = ex.check_placement_prediction(runs, "binary", "top")      # 0.1 behind: inside
    assert right_by_noise and "inside the noise" in repr(right_by_noise)
    wrong = ex.check_placement_prediction(runs, "binary", "bottom")            # 4.5 behind, every seed
    assert not wrong and "outside the noise" in repr(wrong)
    assert not ex.check_placement_prediction(runs, "binary", None)
    assert not ex.check_placement_prediction(runs, "binary", "middle")
