"""Experiments for notebook 05 (importance scoring), NumPy reference.

One training run is recorded once (`record_scores`): after every step, the raw sensitivity
I(w) = |w * dL/dw| of every adapter entry and every lambda. Everything else is computed from that
record with the library's own scoring functions, so any (beta1, beta2) can be replayed in
milliseconds without retraining (the smoothing does not change the training: nothing is masked).

    record_scores(task)                  -> ScoreRun (also runs an ImportanceTracker live, as a check)
    lambda_scores(run)                   (T, n) |lambda_i|, the simplest score
    sensitivity_scores(run)              (T, n) S_i with s = I: the raw per-minibatch sensitivity
    ema_scores(run, beta1)               (T, n) S_i with s = Ibar: the sensitivity's EMA alone
    smoothed_scores(run, beta1, beta2)   (T, n) S_i with s = Ibar * Ubar: AdaLoRA's score
    ablation_scores(run, beta1, beta2)   {name: (T, n)} the four arms of ABLATION_NAMES
    ranking_stability(scores)            (T-1,) Spearman rank correlation of consecutive steps
    topb_turnover(scores, budget)        (T-1,) triplets entering the top-b set at each step
    stability_table(run, beta1s, beta2s) mean Spearman for a grid of betas
    score_terms(tracker)                 {layer: the three terms of S_i, and S_i itself}
    scale_invariance(model, task)        why the lambda term dominates: sum_j P_ji dL/dP_ji =
                                         lambda_i dL/dlambda_i = sum_j Q_ij dL/dQ_ij
    masking_loss_increase(model, task)   measured: training loss change when lambda_i := 0 alone
    predictiveness(run, task)            Spearman of each score with that measured change

All the per-triplet scores use the same aggregation S_i = s(lambda_i) + mean_j s(P_ji) +
mean_j s(Q_ij) (the library's `triplet_scores`), and differ only in s: that is the paper's ablation
(its Table 4 replaces s = Ibar * Ubar by "s = I", the sensitivity alone; the table does not say
whether smoothed or raw, so the ablation here has both arms: raw I and its EMA Ibar).
"""
from dataclasses import dataclass, field, fields

import numpy as np
from scipy.stats import rankdata, spearmanr

from ..recording import Recorder, Recording
from ..reference import MLP, cross_entropy, train_step
from ..scoring import (entry_score, layer_triplet_scores, sensitivity, smooth, top_b_mask,
                       triplet_scores)
from ..tracking import ImportanceTracker
from .common import single_thread

BETAS = (0.5, 0.7, 0.85, 0.95)  # the grid of the stability table


@dataclass(frozen=True)
class RunSettings:
    """The recorded run's settings (notebook 05's defaults)."""
    r: int = 8
    alpha: float = 8.0
    gamma: float = 0.1
    lr: float = 0.2
    steps: int = 200
    batch_size: int = 32
    seed: int = 0


DEFAULTS = RunSettings()
SCORE_NAMES = ("|λ|", "sensitivity I", "smoothed Ī·Ū")  # the three the widget of notebook 05 draws
EMA_NAME = "EMA Ī alone"
ABLATION_NAMES = ("|λ|", "sensitivity I", EMA_NAME, "smoothed Ī·Ū")  # with the EMA-alone arm


@dataclass(kw_only=True)
class ScoreRun(Recording):
    """A recorded run (`Recording`: one row per training step 1..T, after the step; the run's
    settings in meta["config"]), plus what notebook 05 replays the scores from."""
    shapes: tuple  # ((d_out, r, d_in), ...) per layer
    sensitivity: np.ndarray  # (T, n_entries) I(w) of every entry, flat in the tracker's order
    triplet_of: np.ndarray  # (n_entries,) which triplet each flat entry belongs to
    weight_of: np.ndarray  # (n_entries,) 1 for lambdas, 1/d_out for P, 1/d_in for Q entries
    live_scores: np.ndarray  # (T, n_triplets) what the ImportanceTracker itself computed, live
    beta1: float  # the betas of the live tracker
    beta2: float
    model: MLP = field(repr=False, default=None)
    tracker: ImportanceTracker = field(repr=False, default=None)

    @property
    def n_triplets(self):
        return self.lambdas.shape[1]

    def triplet_labels(self):
        """['layers.0 #0', ...]: one label per triplet, layers in order."""
        return [f"{name} #{i}" for name, r in zip(self.layer_names, self.ranks) for i in range(r)]


def flat_index(tracker):
    """(triplet_of, weight_of, n_triplets) of a tracker's flat entry order, as NumPy: which triplet
    each entry belongs to and its weight in S_i. Read from the tracker itself, so this module never
    builds its own copy of the aggregation."""
    triplet_of, weight_of, n = tracker.flat_index()
    return np.asarray(triplet_of), np.asarray(weight_of), int(n)


def gather(layers):
    """(weights, grads): every adapter entry of `layers`, flat, in the tracker's order
    (per layer: P row-major, lambda, Q row-major), via the layers' `weights_and_grads()`."""
    pairs = [pair for layer in layers.values() for pair in layer.weights_and_grads()]
    return (np.concatenate([w.reshape(-1) for w, _ in pairs]),
            np.concatenate([g.reshape(-1) for _, g in pairs]))


@single_thread(torch=False)  # NumPy only
def record_scores(task, *, beta1=0.85, beta2=0.85, r=DEFAULTS.r, alpha=DEFAULTS.alpha,
                  gamma=DEFAULTS.gamma, lr=DEFAULTS.lr, steps=DEFAULTS.steps,
                  batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed):
    """Train SVD adapters (no masking) and record every entry's sensitivity after every step.

    An ImportanceTracker runs alongside (it scores and never masks): its scores are kept as
    `live_scores`, the reference the replays are checked against.
    """
    model = MLP(task.weights, task.biases, adapter="svd", r=r, alpha=alpha, rng=seed)
    tracker = ImportanceTracker(model.layers, beta1=beta1, beta2=beta2)
    recorder = Recorder(model.layers)
    sens, live = [], []
    for step, idx in enumerate(task.batches(steps, batch_size, seed), start=1):
        loss = train_step(model, task.X_train[idx], task.y_train[idx], lr=lr, gamma=gamma)
        tracker.update()  # the weights after the step, with the gradients that made it
        recorder.record(step, loss)
        sens.append(sensitivity(*gather(model.layers)))
        live.append(tracker.triplet_scores())
    triplet_of, weight_of, _ = flat_index(tracker)
    config = dict(r=r, alpha=alpha, gamma=gamma, lr=lr, steps=steps, batch_size=batch_size,
                  seed=seed)
    recording = recorder.recording(meta={"config": config})
    return ScoreRun(**{f.name: getattr(recording, f.name) for f in fields(Recording)},
                    shapes=tuple((lay.d_out, lay.r, lay.d_in) for lay in model.layers.values()),
                    sensitivity=np.array(sens), triplet_of=triplet_of, weight_of=weight_of,
                    live_scores=np.array(live), beta1=beta1, beta2=beta2, model=model,
                    tracker=tracker)


def lambda_scores(run):
    """(T, n) the score S_i = |lambda_i| (what a pruning rule on magnitudes would use)."""
    return np.abs(run.lambdas)


def sensitivity_scores(run):
    """(T, n) S_i with s(w) = I(w) = |w * grad|: this minibatch's sensitivity, unsmoothed."""
    return np.stack([triplet_scores(I, run.triplet_of, run.weight_of, run.n_triplets)
                     for I in run.sensitivity])


def smoothed_scores(run, beta1=0.85, beta2=0.85, *, uncertainty=True):
    """(T, n) AdaLoRA's S_i with s(w) = Ibar(w) * Ubar(w), the EMAs replayed with (beta1, beta2);
    uncertainty=False: s(w) = Ibar(w), the sensitivity's moving average alone (see ema_scores)."""
    ibar = ubar = np.zeros(run.sensitivity.shape[1])  # start at zero, as the tracker
    out = np.empty((len(run.sensitivity), run.n_triplets))
    for t, I in enumerate(run.sensitivity):
        ibar, ubar = smooth(ibar, ubar, I, beta1=beta1, beta2=beta2)
        entry = entry_score(ibar, ubar) if uncertainty else ibar
        out[t] = triplet_scores(entry, run.triplet_of, run.weight_of, run.n_triplets)
    return out


def ema_scores(run, beta1=0.85):
    """(T, n) S_i with s(w) = Ibar(w): the sensitivity's moving average alone, no uncertainty."""
    return smoothed_scores(run, beta1, uncertainty=False)


def ablation_scores(run, beta1=0.85, beta2=0.85):
    """{name: (T, n)} the four arms of ABLATION_NAMES: |lambda|, raw I, Ibar alone, Ibar * Ubar."""
    scores = all_scores(run, beta1, beta2)
    scores[EMA_NAME] = ema_scores(run, beta1)
    return {name: scores[name] for name in ABLATION_NAMES}


def all_scores(run, beta1=0.85, beta2=0.85):
    """{name: (T, n)} the three scores, named as in SCORE_NAMES."""
    return dict(zip(SCORE_NAMES, (lambda_scores(run), sensitivity_scores(run),
                                  smoothed_scores(run, beta1, beta2))))


def ranking_stability(scores):
    """(T-1,) Spearman rank correlation between the triplet scores of steps t-1 and t.

    1 = the ranking did not change; NaN where a step's scores are all equal (no ranking)."""
    ranks = rankdata(scores, axis=1)  # ties share their average rank, as in Spearman's rho
    ranks = ranks - ranks.mean(axis=1, keepdims=True)
    num = (ranks[1:] * ranks[:-1]).sum(axis=1)
    den = np.sqrt((ranks[1:] ** 2).sum(axis=1) * (ranks[:-1] ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def topb_turnover(scores, budget):
    """(T-1,) how many triplets enter the top-`budget` set at step t that were not in it at t-1:
    how often masking every step with this score would change its mind."""
    keep = np.stack([top_b_mask(s, budget) for s in scores])
    return (keep[1:] & ~keep[:-1]).sum(axis=1)


def stability_table(run, beta1s=BETAS, beta2s=BETAS, *, skip=20):
    """(len(beta1s), len(beta2s)) mean Spearman stability of the smoothed score, steps > skip."""
    return np.array([[np.nanmean(ranking_stability(smoothed_scores(run, b1, b2))[skip:])
                      for b2 in beta2s] for b1 in beta1s])


def score_terms(tracker):
    """{layer: dict} the paper's eq. (7) for every triplet, term by term, from a tracker's state:
    s_lam = s(lambda_i), mean_s_P = mean_j s(P_ji), mean_s_Q = mean_j s(Q_ij), their sum,
    S = the tracker's own `layer_scores()`, and Ibar, Ubar of the lambda entries.
    The flat state is cut in the tracker's order: per layer P (d_out, r), lambda (r,), Q (r, d_in)."""
    s = np.asarray(entry_score(tracker.ibar, tracker.ubar))
    ibar, ubar = np.asarray(tracker.ibar), np.asarray(tracker.ubar)
    scores = tracker.layer_scores()
    out, offset = {}, 0
    for name, layer in tracker.layers.items():
        n_p, r, n_q = layer.d_out * layer.r, layer.r, layer.r * layer.d_in
        s_P = s[offset:offset + n_p].reshape(layer.d_out, r)
        lam = slice(offset + n_p, offset + n_p + r)
        s_Q = s[offset + n_p + r:offset + n_p + r + n_q].reshape(r, layer.d_in)
        terms = dict(s_lam=s[lam], mean_s_P=s_P.mean(axis=0), mean_s_Q=s_Q.mean(axis=1),
                     Ibar_lam=ibar[lam], Ubar_lam=ubar[lam])
        terms["sum"] = layer_triplet_scores(s_P, s[lam], s_Q)  # the definition, eq. (7)
        terms["S"] = np.asarray(scores[name])
        out[name] = terms
        offset += n_p + r + n_q
    return out


def scale_invariance(model, task, *, batch=None):
    """{layer: (r, 3)} for a fresh backward pass of the cross-entropy alone (no regularizer):
    columns sum_j P_ji dL/dP_ji, lambda_i dL/dlambda_i, sum_j Q_ij dL/dQ_ij. All three are equal,
    because scaling P_.i by c and lambda_i by 1/c (or Q_i. likewise) leaves the update unchanged."""
    idx = np.arange(len(task.X_train)) if batch is None else batch
    _, dlogits = cross_entropy(model.forward(task.X_train[idx]), task.y_train[idx])
    model.backward(dlogits)
    out = {}
    for name, layer in model.layers.items():
        g = layer.grads
        out[name] = np.stack([(layer.P * g["P"]).sum(axis=0), layer.lam * g["lam"],
                              (layer.Q * g["Q"]).sum(axis=1)], axis=1)
    return out


@single_thread(torch=False)  # NumPy only
def masking_loss_increase(model, task):
    """(n_triplets,) measured: the training-set loss with lambda_i set to 0 (that triplet alone
    masked) minus the loss of the unmasked model. The importance a score tries to predict."""
    X, y = task.X_train, task.y_train
    base = cross_entropy(model.forward(X), y)[0]
    out = []
    for layer in model.layers.values():
        for i in range(layer.r):
            kept = layer.lam[i]
            layer.lam[i] = 0.0
            out.append(cross_entropy(model.forward(X), y)[0] - base)
            layer.lam[i] = kept
    return np.array(out)


def predictiveness(run, task, *, beta1=0.85, beta2=0.85):
    """{score name (the four of ABLATION_NAMES): Spearman rho between the score at the last step and the measured loss
    increase of masking each triplet alone}: which score ranks triplets like reality does."""
    truth = masking_loss_increase(run.model, task)
    return {name: float(spearmanr(scores[-1], truth).statistic)
            for name, scores in ablation_scores(run, beta1, beta2).items()}


@single_thread(torch=False)  # NumPy only
def scores_side_by_side(task, scorer, *, steps=50, beta1=0.85, beta2=0.85, r=DEFAULTS.r,
                        alpha=DEFAULTS.alpha, gamma=DEFAULTS.gamma, lr=DEFAULTS.lr,
                        batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed):
    """Train SVD adapters with an ImportanceTracker and, after every step, call
    `scorer(model.layers) -> {name: S (r,)}` on the same weights and gradients (notebook 05's own
    scorer). Returns (the largest |S_scorer - S_tracker| over all steps and triplets, the
    largest score), so a difference can be read against the scores' size."""
    model = MLP(task.weights, task.biases, adapter="svd", r=r, alpha=alpha, rng=seed)
    tracker = ImportanceTracker(model.layers, beta1=beta1, beta2=beta2)
    diff = top = 0.0
    for idx in task.batches(steps, batch_size, seed):
        train_step(model, task.X_train[idx], task.y_train[idx], lr=lr, gamma=gamma)
        tracker.update()
        mine, lib = scorer(model.layers), tracker.layer_scores()
        for name, S in lib.items():
            diff = max(diff, float(np.max(np.abs(np.asarray(mine[name]) - S))))
            top = max(top, float(np.max(S)))
    return diff, top
