"""Which importance score finds the right allocation? A live experiment on notebook 06's
planted-rank task (NumPy, a second a run), where the right allocation is known (ours; notebook 09).

    score_experiment(score, seeds)    AdaLoRA with the allocator's S_i = `score` vs the paper's
                                      importance, same seeds: ranks, misplaced triplets, test loss
"""
from ..allocator import SCORES
from ..errors import ConfigError
from .planted import PLANTED_RANKS, PLANTED_SCHEDULE, allocation_error, make_planted_task, train_planted
from .noise import compare


def score_experiment(score, seeds=range(8), *, baseline="importance", planted_ranks=PLANTED_RANKS,
                     init_r=8, total_steps=PLANTED_SCHEDULE["total_steps"]):
    """AdaLoRA on notebook 06's planted-rank task with the allocator's S_i = `score` and with
    `baseline`, same seed (same task, init and batches) for both: the knob is `score` alone.
    Notebook 06's settings: SVD adapters of rank `init_r` pruned to the planted total, SGD, and
    PLANTED_SCHEDULE's phases scaled to `total_steps` (warm-up a fifth, the final phase three tenths).

    Returns {"score", "baseline", "planted", "runs": per seed {"seed", score: {...}, baseline: {...}}
    with each side's "ranks", "misplaced" (triplets in the wrong layer) and "relative_loss" (test
    loss / the frozen network's), "misplaced": compare() of score minus baseline}.
    """
    if score not in SCORES or baseline not in SCORES:
        raise ConfigError(f"score and baseline must be in {SCORES}, got {score!r}, {baseline!r}")
    schedule = {k: v * total_steps // PLANTED_SCHEDULE["total_steps"] for k, v in PLANTED_SCHEDULE.items()}
    out = []
    for seed in seeds:
        task = make_planted_task(planted_ranks, seed=seed)
        row = {"seed": int(seed)}
        for s in dict.fromkeys((score, baseline)):
            res = train_planted(task, adapter="svd", r=init_r, target_budget=task.total_rank,
                                seed=seed, score=s, **schedule)
            ranks = [int(k) for k in res.ranks.values()]
            row[s] = {"ranks": ranks, "misplaced": allocation_error(ranks, planted_ranks),
                      "relative_loss": res.relative_loss}
        out.append(row)
    misplaced = compare([row[score]["misplaced"] - row[baseline]["misplaced"] for row in out])
    return {"score": score, "baseline": baseline, "planted": list(planted_ranks), "runs": out,
            "misplaced": misplaced}
