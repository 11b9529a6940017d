"""Figures and text tables for notebook 10 (when adaptive allocation pays: a planted-update MiniLM).

The loss is the held-out MSE to the teacher divided by the frozen student's (1 = nothing learned,
0 = the teacher matched). Intervals are 95 % Student-t intervals of paired differences (by seed).

    summary_rows(runs, design)              per arm and budget: seeds, loss, rank on the planted
                                            matrices, precision and recall of the allocation
    comparison(runs, design, budget, a, b, key)   paired_interval of run a - run b over seeds
    goal(runs)                              the notebook's stated goal, measured (see goal's docstring)
    summary_table(rows), comparison_table(runs, design, pairs)   text, for print
    budget_figure(runs, design)             loss against budget per arm | paired difference to LoRA
    rank_map_figure(runs, design, arms, budget)   planted ranks beside the mean found ranks
    heterogeneity_figure(spectra)           rank holding 90 % of each matrix's update: tweets vs planted
    live_figure(run, design)                one run's found ranks beside the planted ones
"""
import numpy as np
from plotly.subplots import make_subplots

from ..labs import planted_transformer as pt
from .style import TEMPLATE

ARM_LABELS = {"lora": "uniform LoRA", "adalora": "AdaLoRA (init 1.5x)", "random": "random (init 1.5x)",
              "adalora_wide": "AdaLoRA (init 12)", "random_wide": "random (init 12)",
              "sensitivity_wide": "Ibar alone (init 12)", "magnitude_wide": "|lambda| (init 12)",
              "svd": "SVD form, unpruned"}
ARM_COLORS = {"lora": "#1f77b4", "adalora": "#d62728", "random": "#7f7f7f", "adalora_wide": "#ff7f0e",
              "random_wide": "#bcbd22", "sensitivity_wide": "#9467bd", "magnitude_wide": "#8c564b",
              "svd": "#2ca02c"}
LAYERS = tuple(range(pt.FIRST_ADAPTED, 6))


def _runs(runs, design, arm=None, budget=None):
    return {r["seed"]: r for r in runs if r["design"] == design and (arm is None or r["arm"] == arm)
            and (budget is None or r["budget"] == budget)}


def summary_rows(runs, design="heterogeneous"):
    """Per (arm, budget) with runs, in ARMS and BUDGETS order: n, mean loss (relative), mean share
    of the final rank on planted matrices, mean precision and recall."""
    rows = []
    for budget in pt.BUDGETS:
        for arm in pt.ARMS:
            rs = list(_runs(runs, design, arm, budget).values())
            if rs:
                mean = lambda k: float(np.mean([r[k] for r in rs]))
                rows.append({"arm": arm, "budget": budget, "n": len(rs), "loss": mean("relative_loss"),
                             "on_planted": mean("on_planted"), "precision": mean("precision"),
                             "recall": mean("recall"), "init_r": rs[0]["init_r"]})
    return rows


def comparison(runs, design, budget, a, b, key="relative_loss"):
    """pt.paired_interval of run[key] of arm a minus arm b, over the seeds both have."""
    ra, rb = _runs(runs, design, a, budget), _runs(runs, design, b, budget)
    seeds = sorted(set(ra) & set(rb))
    return {**pt.paired_interval([ra[s][key] - rb[s][key] for s in seeds]), "a": a, "b": b,
            "budget": budget, "key": key, "seeds": seeds}


def goal(runs, budget=None):
    """The goal stated before the run, at the lowest budget: for AdaLoRA at the paper's ratio and at
    the wide init, (1) its loss minus uniform LoRA's and (2) minus random's (same init) are below 0
    with the 95 % interval excluding 0; (3) it puts more of its rank on the planted matrices than
    random does (paired interval excluding 0); (4) in the homogeneous control, AdaLoRA minus uniform
    LoRA is *not* below 0 outside the interval. {arm: {"vs_lora", "vs_random", "allocation",
    "control", "met"}}."""
    budget = budget or pt.BUDGETS[0]
    out = {}
    for arm, rand in (("adalora", "random"), ("adalora_wide", "random_wide")):
        c = {"vs_lora": comparison(runs, "heterogeneous", budget, arm, "lora"),
             "vs_random": comparison(runs, "heterogeneous", budget, arm, rand),
             "allocation": comparison(runs, "heterogeneous", budget, arm, rand, "on_planted"),
             "control": comparison(runs, "homogeneous", budget, arm, "lora")}
        beats = lambda x: x["n"] >= 2 and x["outside"] and x["mean"] < 0
        c["met"] = {"beats_lora": beats(c["vs_lora"]), "beats_random": beats(c["vs_random"]),
                    "finds_planted": c["allocation"]["n"] >= 2 and c["allocation"]["outside"]
                    and c["allocation"]["mean"] > 0,
                    "control_not_better": c["control"]["n"] >= 2 and not beats(c["control"])}
        out[arm] = c
    return out


# ------------------------------------------------------------------------------------ tables
def summary_table(rows):
    lines = [f"{'budget':>6}  {'arm':<22}{'init':>5}{'seeds':>6}{'loss':>8}{'on planted':>11}"
             f"{'precision':>10}{'recall':>8}"]
    for r in rows:
        init = r["init_r"] if pt.ARMS[r["arm"]]["method"] == "adalora" else "-"  # LoRA, SVD: never pruned
        lines.append(f"{r['budget']:>6}  {ARM_LABELS[r['arm']]:<22}{init:>5}{r['n']:>6}{r['loss']:>8.3f}"
                     f"{r['on_planted']:>11.2f}{r['precision']:>10.2f}{r['recall']:>8.2f}")
    return "\n".join(lines)


def comparison_table(runs, design, pairs, budgets=pt.BUDGETS, key="relative_loss"):
    """One line per (budget, a - b): mean paired difference, its 95 % interval, excludes 0."""
    lines = [f"{'budget':>6}  {'difference':<44}{'seeds':>6}{'mean':>8}{'95% interval':>20}  excludes 0"]
    for budget in budgets:
        for a, b in pairs:
            c = comparison(runs, design, budget, a, b, key)
            if c["n"] == 0:
                continue
            interval = "-" if c["n"] < 2 else f"[{c['low']:+.3f}, {c['high']:+.3f}]"
            name = f"{ARM_LABELS[a]} - {ARM_LABELS[b]}"
            lines.append(f"{budget:>6}  {name:<44}{c['n']:>6}{c['mean']:>+8.3f}{interval:>20}  "
                         f"{'yes' if c['outside'] else 'no'}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ figures
def budget_figure(runs, design="heterogeneous", arms=None):
    """Left: mean relative loss against the budget per arm. Right: each arm minus uniform LoRA,
    paired by seed, with its 95 % interval (below 0: better than uniform)."""
    arms = [a for a in (arms or pt.ARMS) if any(r["arm"] == a and r["design"] == design for r in runs)]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "held-out loss / frozen loss (mean over seeds)", "minus uniform LoRA, paired (95 % interval)"))
    for k, arm in enumerate(arms):
        xs, ys, dx, dy, lo, hi = [], [], [], [], [], []
        for budget in pt.BUDGETS:
            rs = _runs(runs, design, arm, budget)
            if rs:
                xs.append(budget)
                ys.append(float(np.mean([r["relative_loss"] for r in rs.values()])))
            c = comparison(runs, design, budget, arm, "lora")
            if arm != "lora" and c["n"] >= 2:
                dx.append(budget * (1 + 0.025 * (k - len(arms) / 2)))
                dy.append(c["mean"])
                lo.append(c["mean"] - c["low"])
                hi.append(c["high"] - c["mean"])
        style = dict(name=ARM_LABELS[arm], legendgroup=arm, marker_color=ARM_COLORS[arm])
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", row=1, col=1, **style)
        if dy:
            fig.add_scatter(x=dx, y=dy, mode="markers", showlegend=False, row=1, col=2,
                            error_y=dict(type="data", array=hi, arrayminus=lo), **style)
    fig.add_hline(y=0, line_dash="dot", line_color="black", row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(type="log", tickvals=list(pt.BUDGETS), title_text="total rank budget", row=1, col=col)
    fig.update_yaxes(title_text="relative loss", row=1, col=1)
    fig.update_layout(template=TEMPLATE, height=420, width=980,
                      title=f"{design.capitalize()} plant: loss against the rank budget")
    return fig


def rank_grid(ranks):
    """(6 kinds, 3 layers) array of a {matrix: rank} (missing matrices: 0)."""
    return np.array([[ranks.get(f"layer.{i}.{kind}", 0) for i in LAYERS] for kind in pt.KINDS], dtype=float)


def _heatmap(fig, grid, col, zmax, whole=False):
    """whole: one run's ranks, drawn as integers (a rank is an outcome of training, not a measurement)."""
    z = grid.astype(int).tolist() if whole else grid
    fig.add_heatmap(z=z, x=[f"layer {i}" for i in LAYERS], y=list(pt.KINDS), zmin=0, zmax=zmax,
                    colorscale="Blues", showscale=col == 1, text=z if whole else np.round(grid, 1),
                    texttemplate="%{text}", row=1, col=col)


def rank_map_figure(runs, design="heterogeneous", arms=("adalora", "adalora_wide"), budget=None):
    """The planted ranks beside each arm's mean final rank per matrix (over seeds)."""
    budget = budget or pt.BUDGETS[0]
    planted = rank_grid(pt.DESIGNS[design])
    grids = [rank_grid({m: float(np.mean([r["ranks"][m] for r in _runs(runs, design, arm, budget).values()]))
                        for m in pt.MATRICES}) for arm in arms]
    fig = make_subplots(rows=1, cols=1 + len(arms), horizontal_spacing=0.04, shared_yaxes=True,
                        subplot_titles=["planted"] + [f"{ARM_LABELS[a]}, budget {budget}" for a in arms])
    for k, grid in enumerate([planted] + grids):
        _heatmap(fig, grid, k + 1, planted.max())
    fig.update_layout(template=TEMPLATE, height=380, width=330 * (1 + len(arms)),
                      title="Where the rank is: planted vs found (mean over seeds)")
    return fig


def live_figure(run, design="heterogeneous"):
    """One run's final ranks beside the planted ranks."""
    planted = rank_grid(pt.DESIGNS[design])
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04, shared_yaxes=True,
                        subplot_titles=("planted", f"found ({run['arm']}, budget {run['budget']})"))
    _heatmap(fig, planted, 1, int(planted.max()), whole=True)
    _heatmap(fig, rank_grid(run["ranks"]), 2, int(planted.max()), whole=True)
    fig.update_layout(template=TEMPLATE, height=360, width=660,
                      title=f"relative loss {run['relative_loss']:.3f}, {round(100 * run['on_planted'])} % of the rank on the planted matrices")
    return fig


def heterogeneity_figure(spectra):
    """Per adapted matrix, the rank holding 90 % of its update's energy: each tweet task's full
    fine-tune (36 matrices) and the planted designs (18 matrices, 0 where nothing is planted);
    the legend names each one's heterogeneity (1 - N_eff / N)."""
    fig = make_subplots(rows=1, cols=1)
    for task, data in spectra["tasks"].items():
        r90 = {m: v["r90"] for m, v in data["matrices"].items()}
        fig.add_bar(x=list(r90), y=list(r90.values()),
                    name=f"full fine-tune, {task} (h = {pt.heterogeneity(r90):.2f})")
    for design in pt.DESIGNS:
        r90 = {m: spectra["planted"][design].get(m, {"r90": 0})["r90"] for m in pt.MATRICES}
        fig.add_bar(x=list(r90), y=list(r90.values()), name=f"planted, {design} (h = {pt.heterogeneity(r90):.2f})")
    fig.update_layout(template=TEMPLATE, height=440, width=980, barmode="group", xaxis_tickangle=-60,
                      yaxis_title="rank holding 90 % of the update's energy",
                      title="How unevenly the update's rank is spread over the matrices")
    return fig
