"""Figures and text tables for notebook 09 (the AdaLoRA paper in miniature on MiniLM).

Figures (accuracy in % of the held-out tweets, error bars: one sample std over seeds unless said):
    budget_figure(runs)                accuracy against total rank, LoRA vs AdaLoRA, one panel per task
    placement_figure(runs)             LoRA by placement, and where AdaLoRA put its rank, per task
    difference_figure(runs)            full AdaLoRA minus each ablation, paired by seed, with the noise band
Tables (text, for print):
    sweep_table(meta, runs), budget_table(runs), placement_table(runs), ablation_table(runs),
    paper_vs_us_table(rows), score_table(result)
"""
import textwrap

import numpy as np
from plotly.subplots import make_subplots

from ..labs import miniature as mini
from ..labs import noise
from .style import TEMPLATE

TASK_LABELS = {"binary": "binary (negative / positive)",
               "three_class": "three classes (negative / neutral / positive)"}
FAMILY_LABELS = {"lora": "LoRA (rank r on all 36)", "adalora": "AdaLoRA (pruned to the same total)"}
FAMILY_COLORS = {"lora": "#1f77b4", "adalora": "#d62728"}
BUDGET_NUDGE = {"lora": 0.97, "adalora": 1.03}
TASK_COLORS = {"binary": "#2ca02c", "three_class": "#9467bd"}
PLACEMENT_LABELS = {"all": "all 36 (r = 4)", "attention": "attention (r = 9)",
                    "ffn": "FFN (r = 7)", "bottom": "bottom 3 layers (r = 8)",
                    "top": "top 3 layers (r = 8)"}
GROUP_LABELS = {"attention": "attention", "ffn": "FFN", "bottom": "bottom 3 layers", "top": "top 3 layers"}


def _tasks(runs):
    return [t for t in mini.TASKS if any(r["task"] == t for r in runs)]


def _pm(mean, std, digits=1):
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _difference(c, width):
    """A paired comparison as table columns: mean difference, SE, inside the noise ("-" for
    one seed, where there is no noise estimate)."""
    if c["n"] < 2:
        return f"{c['mean']:>+{width}.2f}{'-':>7}  -"
    return f"{c['mean']:>+{width}.2f}{c['se']:>7.2f}  {'yes' if c['inside'] else 'no'}"


# ------------------------------------------------------------------------------------ figures
def budget_figure(runs, *, title="Accuracy against the rank budget: LoRA vs AdaLoRA (mean ± std over seeds)"):
    """One panel per task: x the total rank (log scale, the budgets double), y test accuracy (%)."""
    tasks = _tasks(runs)
    fig = make_subplots(rows=1, cols=len(tasks), subplot_titles=[TASK_LABELS[t] for t in tasks])
    for col, task in enumerate(tasks, start=1):
        for family, rows in mini.budget_curve(runs, task).items():
            # the two methods a few percent apart on the log axis, so their error bars do not hide each other
            nudge = BUDGET_NUDGE[family]
            fig.add_scatter(x=[round(r["budget"] * nudge, 4) for r in rows], y=[round(r["mean"], 4) for r in rows],
                            error_y=dict(type="data", array=[round(r["std"], 4) for r in rows]),
                            mode="lines+markers", name=FAMILY_LABELS[family], legendgroup=family,
                            showlegend=col == 1, marker=dict(color=FAMILY_COLORS[family], size=9),
                            line=dict(color=FAMILY_COLORS[family]), row=1, col=col,
                            customdata=[[r["budget"], r["n"]] for r in rows],
                            hovertemplate="total rank %{customdata[0]}: %{y:.1f}% (%{customdata[1]} seeds)"
                                          "<extra></extra>")
        fig.update_xaxes(type="log", tickvals=list(mini.BUDGETS), row=1, col=col,
                         title_text="total rank over the 36 matrices (log scale)")
        fig.update_yaxes(title_text="test accuracy (%)", row=1, col=col)
    fig.update_layout(title=title, template=TEMPLATE, height=420, legend_title="method")
    return fig


def placement_figure(runs, *, title="Which matrices? LoRA by placement (left) and AdaLoRA's own choice (right)"):
    """Per task (one row each): LoRA's accuracy by placement at about one parameter count (dots,
    mean ± std), and the mean final rank per matrix AdaLoRA (budget 144) gave each group (bars,
    mean ± std over seeds; dashed: the uniform 4)."""
    tasks = _tasks(runs)
    titles = [f"{TASK_LABELS[t]}: {what}" for t in tasks
              for what in ("LoRA by placement", "where AdaLoRA put its rank")]
    fig = make_subplots(rows=len(tasks), cols=2, subplot_titles=titles, horizontal_spacing=0.12,
                        vertical_spacing=0.22)
    uniform = 144 / 36
    for row, task in enumerate(tasks, start=1):
        places = mini.placement_rows(runs, task)
        fig.add_scatter(x=[PLACEMENT_LABELS[p["placement"]].replace(" (", "<br>(") for p in places],
                        y=[round(p["mean"], 4) for p in places],
                        error_y=dict(type="data", array=[round(p["std"], 4) for p in places]),
                        mode="markers", marker=dict(color=TASK_COLORS[task], size=11), showlegend=False,
                        name=f"{task}: LoRA by placement", row=row, col=1,
                        hovertemplate="%{x}: %{y:.1f}%<extra></extra>")
        groups = mini.allocation_rows(runs, task)
        fig.add_bar(x=[GROUP_LABELS[g["group"]] for g in groups], y=[round(g["mean"], 4) for g in groups],
                    error_y=dict(type="data", array=[round(g["std"], 4) for g in groups]),
                    marker_color=["#d62728" if g["group"] == "ffn" else "#1f77b4" if g["group"] == "attention"
                                  else "#7f7f7f" for g in groups],
                    showlegend=False, name=f"{task}: AdaLoRA's allocation", row=row, col=2,
                    hovertemplate="%{x}: %{y:.2f} triplets per matrix<extra></extra>")
        fig.add_hline(y=uniform, line_dash="dash", line_color="black", row=row, col=2,
                      annotation_text="uniform: 144 / 36 = 4", annotation_position="top left")
        fig.update_yaxes(title_text="test accuracy (%)", row=row, col=1)
        fig.update_yaxes(title_text="mean final rank per matrix", row=row, col=2)
        fig.update_xaxes(title_text="LoRA adapts (rank per matrix)", row=row, col=1)
        fig.update_xaxes(title_text="matrices (AdaLoRA, budget 144)", row=row, col=2)
    fig.update_layout(title=title, template=TEMPLATE, height=400 * len(tasks))
    return fig


def difference_figure(runs, *, title="Full AdaLoRA minus each ablation, paired by seed (> 0: the ablation hurt)"):
    """One panel per task: per ablation, one dot per seed (full AdaLoRA's accuracy minus the
    ablation's on the same seed) and a bar of the mean ± NOISE_SE standard errors: a bar that
    crosses 0 is inside the noise."""
    tasks = _tasks(runs)
    fig = make_subplots(rows=1, cols=len(tasks), subplot_titles=[TASK_LABELS[t] for t in tasks],
                        shared_yaxes=True, horizontal_spacing=0.04)
    for col, task in enumerate(tasks, start=1):
        rows = [r for r in mini.ablation_rows(runs, task) if r["arm"] != mini.FULL_ADALORA]
        labels = [r["label"] for r in rows]
        for row in rows:
            c = row["full_minus"]
            fig.add_scatter(x=np.round(c["diffs"], 4), y=[row["label"]] * c["n"], mode="markers",
                            marker=dict(color="#7f7f7f", size=7, opacity=0.7), name="one seed",
                            legendgroup="seed", showlegend=col == 1 and row is rows[0], row=1, col=col,
                            hovertemplate="%{x:+.2f} points<extra></extra>")
        fig.add_scatter(x=[round(r["full_minus"]["mean"], 4) for r in rows], y=labels, mode="markers",
                        marker=dict(color="black", symbol="diamond", size=11),
                        error_x=dict(type="data", array=[round(noise.NOISE_SE * r["full_minus"]["se"], 4)
                                                         if r["full_minus"]["n"] > 1 else 0 for r in rows]),
                        name=f"mean ± {noise.NOISE_SE:g} SE", legendgroup="mean", showlegend=col == 1,
                        row=1, col=col, hovertemplate="%{y}: %{x:+.2f} points<extra></extra>")
        fig.add_vline(x=0, line_dash="dot", line_color="gray", row=1, col=col)
        fig.update_xaxes(title_text="full AdaLoRA minus ablation (points)", row=1, col=col)
    fig.update_yaxes(autorange="reversed", title_text="ablation (budget 144)", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE, height=440, legend_title="paired difference")
    return fig


# ------------------------------------------------------------------------------------ tables
def sweep_table(meta, runs):
    """The learning-rate sweep, one row per task and swept arm: the training loss of the last
    quarter at each rate tried (what chose; "-": not tried), the test accuracy at each, the rate chosen."""
    grid = meta["lr_grid"]
    rates = "".join(f"{lr:>7g}" for lr in grid)
    over = f"{'':<34}{'train loss (last quarter) at lr':<{7 * len(grid)}}  test % at lr"
    head = f"{'task':<13}{'arm':<21}{rates}  {rates}  chosen"
    lines = [over, head, "-" * len(head)]
    rows = mini.sweep_rows(meta, runs)
    for task, arm in dict.fromkeys((r["task"], r["arm"]) for r in rows):
        tried = {r["lr"]: r for r in rows if (r["task"], r["arm"]) == (task, arm)}
        losses = "".join(f"{tried[lr]['train_loss']:>7.3f}" if lr in tried else f"{'-':>7}" for lr in grid)
        accs = "".join(f"{tried[lr]['accuracy']:>7.1f}" if lr in tried else f"{'-':>7}" for lr in grid)
        chosen = next((f"{lr:g}" for lr, r in tried.items() if r["chosen"]), "-")
        lines.append(f"{task:<13}{arm:<21}{losses}  {accs}  {chosen}")
    return "\n".join(lines)


def budget_table(runs):
    """Per task and budget: the mean training loss of the last quarter (LoRA, AdaLoRA), accuracy
    (mean ± std over seeds) and AdaLoRA minus LoRA, paired."""
    head = (f"{'task':<13}{'total rank':>11}{'train loss L / A':>18}{'LoRA %':>13}{'AdaLoRA %':>13}"
            f"{'AdaLoRA - LoRA':>17}{'± SE':>7}  inside noise")
    lines = [head, "-" * len(head)]
    for task in _tasks(runs):
        curve = mini.budget_curve(runs, task)
        for budget in mini.BUDGETS:
            lora = next((r for r in curve["lora"] if r["budget"] == budget), None)
            ada = next((r for r in curve["adalora"] if r["budget"] == budget), None)
            if lora is None or ada is None:
                continue
            c = mini.compare_arms(runs, task, ada["arm"], lora["arm"])
            losses = f"{lora['train_loss']:.3f} / {ada['train_loss']:.3f}"
            lines.append(f"{task:<13}{budget:>11}{losses:>18}{_pm(lora['mean'], lora['std']):>13}"
                         f"{_pm(ada['mean'], ada['std']):>13}{_difference(c, 17)}")
    return "\n".join(lines)


def placement_table(runs):
    """LoRA by placement (adapter parameters, accuracy, difference to all 36), per task."""
    head = (f"{'task':<13}{'LoRA adapts':<26}{'adapter params':>15}{'accuracy %':>14}"
            f"{'minus all 36':>14}{'± SE':>7}  inside noise")
    lines = [head, "-" * len(head)]
    for task in _tasks(runs):
        for row in mini.placement_rows(runs, task):
            c = row["vs_all"]
            diff = "" if row["placement"] == "all" else _difference(c, 14)
            lines.append(f"{task:<13}{PLACEMENT_LABELS[row['placement']]:<26}{round(row['final_adapter_parameters']):>15,}"
                         f"{_pm(row['mean'], row['std']):>14}{diff}")
    return "\n".join(lines)


def allocation_table(runs):
    """AdaLoRA's final mean rank per matrix by group (per seed, and mean ± std) and the group's share
    of the budget against a uniform allocation's, per task."""
    head = (f"{'task':<13}{'group':<18}{'rank per matrix, per seed':<27}{'mean ± std':>12}"
            f"{'share of the budget':>21}{'if uniform':>12}")
    lines = [head, "-" * len(head)]
    for task in _tasks(runs):
        for row in mini.allocation_rows(runs, task):
            per_seed = ", ".join(f"{v:.2f}" for v in row["values"])
            lines.append(f"{task:<13}{GROUP_LABELS[row['group']]:<18}{per_seed:<27}"
                         f"{_pm(row['mean'], row['std'], 2):>12}{row['share']:>21.1%}{row['uniform_share']:>12.1%}")
    return "\n".join(lines)


def ablation_table(runs):
    """Every ablation at budget 144 next to full AdaLoRA: accuracy and the paired difference."""
    head = (f"{'task':<13}{'arm':<44}{'accuracy %':>13}{'full minus it':>15}{'± SE':>7}  inside noise")
    lines = [head, "-" * len(head)]
    for task in _tasks(runs):
        for row in mini.ablation_rows(runs, task):
            c = row["full_minus"]
            diff = "" if row["arm"] == mini.FULL_ADALORA else _difference(c, 15)
            lines.append(f"{task:<13}{row['label']:<44}{_pm(row['mean'], row['std']):>13}{diff}")
    return "\n".join(lines)


def _label(more, less):
    """"adalora - lora at 36" for budget arms, "ffn - attention", "adalora_144 - prune_lora"."""
    a, b = (name.removeprefix("placement_").removeprefix("ablation_") for name in (more, less))
    (a_head, _, a_tail), (b_head, _, b_tail) = a.rpartition("_"), b.rpartition("_")
    if a_tail == b_tail and a_tail.isdigit():
        return f"{a_head} - {b_head} at {a_tail}"
    return f"{a} - {b}"


def _ours(row):
    c, unit = row["ours"], "points" if row["finding"].measure == "accuracy" else "rank/matrix"
    seeds = " ".join(f"{d:+.2f}" for d in c["diffs"])
    se = f"{c['se']:.2f}" if c["n"] > 1 else "-"
    return f"{c['mean']:+6.2f} ± {se} {unit} (seeds {seeds})"


def paper_vs_us_table(rows):
    """The paper's findings (its tables' cells, or its words for a figure) next to ours: paired
    difference ± SE, verdict."""
    lines, current = [], None
    for row in rows:
        finding = row["finding"]
        if finding is not current:
            current = finding
            lines += ["", f"{finding.source}: {finding.claim}"]
            lines += textwrap.wrap(f"paper: {finding.paper_summary()}", width=100,
                                   initial_indent="  ", subsequent_indent="    ")
        lines.append(f"  ours, {row['task']:<12}{_label(row['more'], row['less']):<30}{_ours(row):<52} "
                     f"-> {row['verdict']}")
    return "\n".join(lines[1:])


def score_table(result):
    """The live planted-rank experiment: per seed, each score's ranks, misplaced triplets, loss."""
    score, base = result["score"], result["baseline"]
    lines = [f"planted ranks {result['planted']}; S_i = {score!r} vs {base!r}, same seed for both"]
    for row in result["runs"]:
        lines.append(f"seed {row['seed']}: " + " | ".join(
            f"{name} {row[name]['ranks']} misplaced {row[name]['misplaced']}, "
            f"loss {row[name]['relative_loss']:.4f}" for name in dict.fromkeys((score, base))))
    total = {name: sum(row[name]["misplaced"] for row in result["runs"]) for name in (score, base)}
    exact = {name: sum(row[name]["misplaced"] == 0 for row in result["runs"]) for name in (score, base)}
    c = result["misplaced"]
    lines.append(f"misplaced triplets over {c['n']} seeds: {score} {total[score]}, {base} {total[base]}")
    lines.append(f"seeds with the planted ranks found exactly: {score} {exact[score]}, {base} {exact[base]}")
    lines.append(f"paired difference ({score} - {base}) per seed: {c['mean']:+.2f} ± {c['se']:.2f} (SE); "
                 f"inside the noise: {c['inside']}")
    return "\n".join(lines)
