"""RankAllocator: AdaLoRA's importance scores and global top-b masking, for both paths.

One AdaLoRA step has two moments around the optimizer step, and the allocator has a method for
each; every training loop of the package calls both and never branches on the order itself:

    allocator.before_optimizer_step(step)
    optimizer.step()
    allocator.after_optimizer_step(step)   # before the gradients are cleared

`order` (ORDERS) chooses what each moment does:

    "peft"   before: nothing. after: update(step), scoring |w * grad| with the weight *after* the
             step and the gradient that produced it. The order of the authors' code (trainer.py
             calls `update_and_mask` after `optimizer.step()`) and of PEFT's `update_and_allocate`.
    "paper"  before: update(step), scoring w(t) with its own gradient (Algorithm 1, lines 4-6).
             after: reapply_mask(), so lambda(t+1) = T(lambda(t) - eta grad, S(t)) (line 8, eq. (6)):
             the step moved the masked lambdas, the scores S(t) still choose them.

What `update(step)` does, per step:

    step <  final_start   update the EMAs; mask to b(step) when the schedule says so
    step == final_start   mask to the target budget with the current scores; freeze that mask
    step >  final_start   re-apply the frozen mask (the optimizer may have moved masked lambdas)

Vectorized: the weights and gradients of all layers are concatenated into one flat array, so the
EMAs, the entry scores and the per-triplet sums are a handful of array operations whatever the
number of adapted layers.

The layer protocol. The layers may be NumPy `reference.SVDLinear` or torch `nn.SVDLinear`; the
allocator reads and writes only these:

    r, d_out, d_in           read: the shapes of P (d_out, r), lam (r,), Q (r, d_in)
    weights_and_grads()      read: ((P, dP), (lam, dlam), (Q, dQ)), a grad None before backward
    apply_mask(keep)         called: zero lam outside `keep` (r,) bool and record it in `mask`
    mask                     read: (r,) bool, what the last masking kept
    budget_applied           written: False while the allocator manages the layer and has not
                             reached its final allocation, True once it has; a layer no allocator
                             manages holds None. Saving or merging warns while it is False.

A layer may also be a LoRA doublet adapter (`nn.PrunableLoRALinear`, "Prune LoRA" of the paper's
Table 4): its weights_and_grads() gives two pairs, ((B, dB), (A, dA)), B (d_out, r) and A (r, d_in),
and doublet i scores mean_j s(B_ji) + mean_j s(A_ij), eq. (7) without the lambda term (our reading
of the paper's Prune LoRA, which gives no formula for it).

`score` chooses S_i (the paper's Table 4 ablations; SCORES[0] is AdaLoRA):

    "importance"   eq. (7) with s(w) = Ibar(w) * Ubar(w), eq. (11) (Ibar eq. (9), Ubar eq. (10), both
                   EMAs of the sensitivity I(w) = |w * dL/dw|, eq. (8)): the paper, the authors'
                   code, PEFT
    "sensitivity"  eq. (7) with s(w) = Ibar(w): the smoothed sensitivity alone (Table 4, s = I)
    "magnitude"    S_i = |lambda_i| (Table 4), the SVD-form only
    "random"       a seeded random score per triplet, drawn once: which triplets survive is chance,
                   and the masks stay nested as budgets shrink (our control, not in the paper)

Equation numbers are those of the ICLR 2023 paper: (3) Delta = P Lambda Q, (4) R(P, Q), (6) the
masking operator T, (7) the triplet score S_i, (8) I, (9) Ibar, (10) Ubar, (11) s = Ibar * Ubar. (The
arXiv HTML rendering numbers (6)-(11) as (8)-(13).)

With masking=False the allocator only scores (the EMAs and `triplet_scores()` every step, the
schedule's phases ignored) and never calls apply_mask: to watch the scores of a run it must not
change.
"""
import warnings

import numpy as np

from .errors import (BudgetNotAppliedWarning, ConfigError, NonFiniteGradientError, check_int,
                     check_open_unit)
from .schedule import BudgetSchedule
from .scoring import (as_like, entry_score, namespace, sensitivity, smooth, top_b_mask,
                      triplet_scores)

ORDERS = ("peft", "paper")  # what the two moments of a step do: see the module docstring
# order -> (the moment that scores and masks, the moment that re-applies the mask)
_MOMENTS = {"peft": ("after", None), "paper": ("before", "after")}
SCORES = ("importance", "sensitivity", "magnitude", "random")  # S_i: see the module docstring


def check_order(order):
    """`order` if it is one of ORDERS, else a ConfigError naming the choices."""
    if order not in ORDERS:
        raise ConfigError(f"order must be one of {ORDERS}, got {order!r}")
    return order


class RankAllocator:
    def __init__(self, layers, *, target_budget, total_steps, warmup_steps, final_steps,
                 mask_interval=1, beta1=0.85, beta2=0.85, masking=True, score="importance", seed=0,
                 order="peft"):
        """layers: {name: SVDLinear}, every adapted matrix of the model, in a fixed order.
        order: one of ORDERS, what `before_optimizer_step` and `after_optimizer_step` do.
        masking=False: score every step and never mask (see the module docstring).
        score: one of SCORES; seed: the draw of score="random" (unused otherwise)."""
        self.layers = dict(layers)
        if not self.layers:
            raise ConfigError("layers must hold at least one SVDLinear adapter, got none")
        if score not in SCORES:
            raise ConfigError(f"score must be one of {SCORES}, got {score!r}")
        if score == "magnitude" and any(len(l.weights_and_grads()) != 3 for l in self.layers.values()):
            raise ConfigError("score='magnitude' ranks by |lambda|: every layer must be an SVDLinear")
        self.score = score
        self.order = check_order(order)
        self._random = np.random.default_rng(seed).random(sum(l.r for l in self.layers.values()))
        self.beta1 = check_open_unit("beta1", beta1)
        self.beta2 = check_open_unit("beta2", beta2)
        self.schedule = BudgetSchedule(
            total_steps=total_steps, init_budget=sum(layer.r for layer in self.layers.values()),
            target_budget=target_budget, warmup_steps=warmup_steps, final_steps=final_steps,
            mask_interval=mask_interval)
        self.budget = self.schedule.init_budget
        self.masking = bool(masking)
        self.last_step = None  # the step of the last update(); None before the first
        self.ema = self.uncertainty = None  # (n_entries,) flat Ibar and Ubar, made on first use
        self._index = None
        self._warned_no_grad = set()
        if self.masking:
            for layer in self.layers.values():
                layer.budget_applied = False  # set True once the final allocation is in place

    def before_optimizer_step(self, step):
        """The moment before `optimizer.step()`: score (and mask) here in the paper's order."""
        self._moment("before", step)

    def after_optimizer_step(self, step):
        """The moment after `optimizer.step()`, before the gradients are cleared: score (and mask)
        here in PEFT's order; re-apply the mask here in the paper's order."""
        self._moment("after", step)

    def _moment(self, moment, step):
        scores_at, reapplies_at = _MOMENTS[self.order]
        if moment == scores_at:
            self.update(step)
        elif moment == reapplies_at:
            self.reapply_mask()

    def update(self, step):
        """Score, and mask if the schedule says so, after optimizer step number `step`."""
        step = check_int("step", step, low=0 if self.last_step is None else self.last_step + 1)
        final_start = self.schedule.final_start
        if not self.masking:
            self._update_scores()
            self.last_step = step
            return self.budget
        if step < final_start:
            self._update_scores()
            self.budget = self.schedule.budget(step)
            if self.schedule.masks_at(step):
                self._mask_to(self.budget)
        elif not self.frozen:  # step == final_start, or the first call after it
            self.budget = self.schedule.target_budget
            self._mask_to(self.budget)
        else:
            self.reapply_mask()
        self.last_step = step
        for layer in self.layers.values():
            layer.budget_applied = self.frozen
        return self.budget

    def reapply_mask(self):
        """Zero again the lambdas outside the current masks: an optimizer step moves masked lambdas
        (Adam by about lr). Used in the final phase, and after the step in the paper's order."""
        if self.masking:
            for layer in self.layers.values():
                layer.apply_mask(layer.mask)

    @property
    def frozen(self):
        """True once the final allocation is fixed (the final phase has begun); never without masking."""
        return (self.masking and self.last_step is not None
                and self.last_step >= self.schedule.final_start)

    def triplet_scores(self):
        """S (n_triplets,): every triplet's score, layers in order; zeros before the first update."""
        triplet_of, weight_of, n = self.flat_index()
        if self.score == "random":
            return as_like(self._random, weight_of)
        if self.score == "magnitude":
            lams = [layer.weights_and_grads()[1][0] for layer in self.layers.values()]
            return abs(namespace(lams[0]).concat(lams))
        if self.ema is None:
            return weight_of[:n] * 0
        entry = self.ema if self.score == "sensitivity" else entry_score(self.ema, self.uncertainty)
        return triplet_scores(entry, triplet_of, weight_of, n)

    def layer_scores(self):
        """{name: S (r,)}: `triplet_scores()` cut into layers."""
        scores, out, offset = self.triplet_scores(), {}, 0
        for name, layer in self.layers.items():
            out[name], offset = scores[offset:offset + layer.r], offset + layer.r
        return out

    def ranks(self):
        """{name: number of triplets that survived the last masking}."""
        return {name: int(layer.mask.sum()) for name, layer in self.layers.items()}

    def rank_pattern(self):
        """{name: [bool] * r}: which triplets of each layer survived the last masking."""
        return {name: [bool(k) for k in layer.mask.tolist()] for name, layer in self.layers.items()}

    def state_dict(self):
        """What `load_state_dict` needs to resume exactly: the EMAs, the budget, the last step."""
        return {"ema": self.ema, "uncertainty": self.uncertainty, "budget": self.budget,
                "last_step": self.last_step}

    def load_state_dict(self, state):
        self.ema, self.uncertainty = state["ema"], state["uncertainty"]
        self.budget, self.last_step = state["budget"], state["last_step"]

    def flat_index(self):
        """(triplet_of, weight_of, n_triplets): for every flat entry (layers in order, each as
        P row-major, lam, Q row-major; a LoRA doublet layer as B, A), the global triplet it belongs
        to and its weight in S_i."""
        if self._index is None:
            triplet_of, weight_of, offset = [], [], 0
            for layer in self.layers.values():
                ids = offset + np.arange(layer.r)
                has_lam = len(layer.weights_and_grads()) == 3
                # Flat order per layer: P (d_out, r) row-major, lam (r,), Q (r, d_in) row-major.
                triplet_of += [np.tile(ids, layer.d_out)] + [ids] * has_lam + [np.repeat(ids, layer.d_in)]
                weight_of += ([np.full(layer.d_out * layer.r, 1 / layer.d_out)] + [np.ones(layer.r)] * has_lam
                              + [np.full(layer.r * layer.d_in, 1 / layer.d_in)])
                offset += layer.r
            like = next(iter(self.layers.values())).weights_and_grads()[0][0]
            self._index = (as_like(np.concatenate(triplet_of), like, dtype=_int64(like)),
                           as_like(np.concatenate(weight_of), like), offset)
        return self._index

    # ---------------------------------------------------------------- internals
    def _update_scores(self):
        weights, grads = self._gather()
        now = sensitivity(weights, grads)
        if self.ema is None:
            self.ema, self.uncertainty = now * 0, now * 0  # EMAs start at zero, as in PEFT
        self.ema, self.uncertainty = smooth(self.ema, self.uncertainty, now,
                                            beta1=self.beta1, beta2=self.beta2)

    def _gather(self):
        """All adapter weights and gradients, flattened and concatenated: two (n_entries,) arrays."""
        weights, grads = [], []
        for name, layer in self.layers.items():
            pairs = layer.weights_and_grads()
            if any(g is None for _, g in pairs):
                self._warn_no_grad(name)
            for w, g in pairs:
                weights.append(w.reshape(-1))
                grads.append((w * 0 if g is None else g).reshape(-1))
        xp = namespace(weights[0])
        weights, grads = xp.concat(weights), xp.concat(grads)
        if not bool(xp.isfinite(grads).all()):
            raise NonFiniteGradientError(self._non_finite_message())
        return weights, grads

    def _warn_no_grad(self, name):
        # A targeted module the forward pass never uses (BERT's pooler when a target is "dense")
        # has no gradient. PEFT crashes on it; here it scores zero and loses its rank first.
        if name not in self._warned_no_grad:
            self._warned_no_grad.add(name)
            warnings.warn(f"adapted layer {name!r} has no gradient (is it used in the forward "
                          "pass?); its importance is taken as 0", stacklevel=5)  # update()'s caller

    def _non_finite_message(self):
        bad = [name for name, layer in self.layers.items()
               if any(g is not None and not bool(namespace(g).isfinite(g).all())
                      for _, g in layer.weights_and_grads())]
        return (f"gradients reaching the allocator must be finite; NaN or inf in layer(s) {bad}. "
                "Lower the learning rate or clip gradients before calling update().")

    def _mask_to(self, budget):
        keep, offset = top_b_mask(self.triplet_scores(), budget), 0
        for layer in self.layers.values():
            layer.apply_mask(keep[offset:offset + layer.r])
            offset += layer.r


def warn_if_budget_not_applied(layers, action):
    """Warn when `action` (saving, merging) uses layers whose allocator never reached the final
    phase: the classic AdaLoRA slip of never calling update(step), which leaves every layer at
    its initial rank while training "works"."""
    pending = [name for name, layer in layers.items() if getattr(layer, "budget_applied", True) is False]
    if pending:
        warnings.warn(BudgetNotAppliedWarning(
            f"{action} adapters whose RankAllocator never reached its final allocation "
            f"({len(pending)} layers, e.g. {pending[0]!r}): call allocator.update(step) after every "
            "optimizer.step(), up to total_steps, or the ranks stay at their initial r"), stacklevel=3)


def _int64(like):
    return np.int64 if isinstance(like, np.ndarray) else namespace(like).int64
