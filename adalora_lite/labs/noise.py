"""Is a difference between two arms inside the noise? Seeds paired, the rule of notebook 09 (ours).

Arms share their seeds: seed s fixes the head's initialization and the order of the batches in
every arm, so two arms are compared *paired by seed*, d_s = acc_a(s) - acc_b(s), and

    inside the noise  <=>  |mean(d)| <= NOISE_SE * SE,   SE = std(d, ddof=1) / sqrt(n)

With n = 3 this is a lenient rule, not a significance test (a 95% t-interval on 2 degrees of
freedom needs 4.30 SE): "outside the noise" means the direction held by more than two standard
errors over three seeds, nothing stronger.

    compare(diffs)                    mean, std, SE (paired and, for the record, unpaired), inside?
    paired(a, b)                      compare() of a[s] - b[s] over the seeds both {seed: value} have
    pairing_gain(comparisons)         how much tighter the paired SE is than the unpaired one
    verdict(comparison)               "agrees" | "disagrees" | "cannot tell (inside noise)" for a
                                      comparison oriented so that the paper predicts a positive sign
    seeds_needed(comparison)          how many seeds would take this difference outside the noise
"""
import math

import numpy as np

from .. import results as recorded_results

NOISE_SE = 2.0
AGREES, DISAGREES, INSIDE_NOISE = "agrees", "disagrees", "cannot tell (inside noise)"
TOO_FEW_SEEDS = "cannot tell (fewer than 2 seeds)"


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
