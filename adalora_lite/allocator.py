"""RankAllocator: AdaLoRA's budget schedule and global top-b masking (the paper's Algorithm 1).

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

`update(step)` is the schedule's three phases (schedule.py):

    step <  final_start   warm-up and shrinking: update the EMAs; mask to b(step) when it is due
    step == final_start   final allocation: mask to the target budget with the current scores and
                          freeze that mask
    step >  final_start   frozen: re-apply the frozen mask (the optimizer may have moved masked lambdas)

The EMAs, their flat layout and the gradient checks are the allocator's ImportanceTracker
(tracking.py). The layer protocol: the tracker's (r, triplet_layout, weights_and_grads()), and

    apply_mask(keep)   called: zero lam outside `keep` (r,) bool and record it in `mask`
    mask               read: (r,) bool, what the last masking kept
    budget_applied     written: False while the allocator manages the layer and has not reached
                       its final allocation, True once it has; a layer no allocator manages holds
                       None. Saving or merging warns while it is False.

Layers are NumPy `reference.SVDLinear`, torch `nn.SVDLinear`, or LoRA doublets
(`nn.PrunableLoRALinear`, "Prune LoRA" of the paper's Table 4: doublet i scores
mean_j s(B_ji) + mean_j s(A_ij), eq. (7) without the lambda term, our reading of the paper, which
gives no formula for it).

`score` chooses S_i (scoring.SCORE_FUNCTIONS, the paper's Table 4 ablations; SCORES[0] is AdaLoRA):
"importance" (eq. (7) with s = Ibar * Ubar, eq. (11)), "sensitivity" (s = Ibar alone), "magnitude"
(|lambda_i|, SVD layers only), "random" (a seeded draw per triplet: our control).

Equation numbers are those of the ICLR 2023 paper: (3) Delta = P Lambda Q, (4) R(P, Q), (6) the
masking operator T, (7) the triplet score S_i, (8) I, (9) Ibar, (10) Ubar, (11) s = Ibar * Ubar. (The
arXiv HTML rendering numbers (6)-(11) as (8)-(13).)
"""
import warnings

from .errors import BudgetNotAppliedWarning, ConfigError, check_int
from .schedule import BudgetSchedule
from .scoring import SCORE_FUNCTIONS, top_b_mask
from .tracking import ImportanceTracker, one_thread

ORDERS = ("peft", "paper")  # what the two moments of a step do: see the module docstring
# order -> (the moment that scores and masks, the moment that re-applies the mask)
_MOMENTS = {"peft": ("after", None), "paper": ("before", "after")}
SCORES = tuple(SCORE_FUNCTIONS)  # the names of the score kinds S_i; SCORES[0] is AdaLoRA's


def check_order(order):
    """`order` if it is one of ORDERS, else a ConfigError naming the choices."""
    if order not in ORDERS:
        raise ConfigError(f"order must be one of {ORDERS}, got {order!r}")
    return order


class RankAllocator:
    def __init__(self, layers, *, target_budget, total_steps, warmup_steps, final_steps,
                 mask_interval=1, beta1=0.85, beta2=0.85, score="importance", seed=0, order="peft"):
        """layers: {name: adapter}, every adapted matrix of the model, in a fixed order.
        order: one of ORDERS, what `before_optimizer_step` and `after_optimizer_step` do.
        score: one of SCORES; seed: the draw of score="random" (unused otherwise)."""
        layers = dict(layers)
        if not layers:
            raise ConfigError("layers must hold at least one SVDLinear adapter, got none")
        if score not in SCORES:
            raise ConfigError(f"score must be one of {SCORES}, got {score!r}")
        if score == "magnitude" and any("lam" not in dict(layer.triplet_layout) for layer in layers.values()):
            raise ConfigError("score='magnitude' ranks by |lambda|: every layer must be an SVDLinear")
        self.tracker = ImportanceTracker(layers, beta1=beta1, beta2=beta2)
        self.layers = self.tracker.layers
        self.score, self.seed, self.order = score, seed, check_order(order)
        self.schedule = BudgetSchedule(
            total_steps=total_steps, init_budget=sum(layer.r for layer in self.layers.values()),
            target_budget=target_budget, warmup_steps=warmup_steps, final_steps=final_steps,
            mask_interval=mask_interval)
        self.budget = self.schedule.init_budget
        self.last_step = None  # the step of the last update(); None before the first
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
        """Score, and mask if the schedule says so, at optimizer step number `step`; returns b(t)."""
        step = check_int("step", step, low=0 if self.last_step is None else self.last_step + 1)
        with one_thread():  # see tracking.one_thread: small operations, steady on a busy machine
            if step < self.schedule.final_start:
                self._shrink(step)
            elif not self.frozen:  # step == final_start, or the first call after it
                self._final_allocation()
            else:
                self.reapply_mask()
        self.last_step = step
        return self.budget

    def _shrink(self, step):
        """Warm-up and shrinking: the EMAs see every step; the mask follows b(t) when it is due."""
        self.tracker.update()
        self.budget = self.schedule.budget(step)
        if self.schedule.masks_at(step):
            self._mask_to(self.budget)

    def _final_allocation(self):
        """The target budget, chosen by the scores as they stand; frozen from here on."""
        self.budget = self.schedule.target_budget
        self._mask_to(self.budget)
        for layer in self.layers.values():
            layer.budget_applied = True

    def reapply_mask(self):
        """Zero again the lambdas outside the current masks: an optimizer step moves masked lambdas
        (Adam by about lr). Used in the final phase, and after the step in the paper's order."""
        for layer in self.layers.values():
            layer.apply_mask(layer.mask)

    @property
    def frozen(self):
        """True once the final allocation is fixed (the final phase has begun)."""
        return self.last_step is not None and self.last_step >= self.schedule.final_start

    def triplet_scores(self):
        """S (n_triplets,): every triplet's score (the kind `score`), layers in order; the
        importance kinds are zeros before the first update."""
        return SCORE_FUNCTIONS[self.score](self.tracker, self.seed)

    def layer_scores(self):
        """{name: S (r,)}: `triplet_scores()` cut into layers."""
        return self.tracker.per_layer(self.triplet_scores())

    def ranks(self):
        """{name: number of triplets that survived the last masking}."""
        return {name: int(layer.mask.sum()) for name, layer in self.layers.items()}

    def rank_pattern(self):
        """{name: [bool] * r}: which triplets of each layer survived the last masking."""
        return {name: [bool(k) for k in layer.mask.tolist()] for name, layer in self.layers.items()}

    def state_dict(self):
        """What `load_state_dict` needs to resume exactly: the EMAs, the budget, the last step."""
        return {**self.tracker.state_dict(), "budget": self.budget, "last_step": self.last_step}

    def load_state_dict(self, state):
        self.tracker.load_state_dict(state)
        self.budget, self.last_step = state["budget"], state["last_step"]

    def _mask_to(self, budget):
        keep, first = top_b_mask(self.triplet_scores(), budget), 0
        for layer in self.layers.values():
            layer.apply_mask(keep[first:first + layer.r])
            first += layer.r


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
