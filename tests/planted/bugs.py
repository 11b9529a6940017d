"""Bugs planted in the core by monkeypatching (no file is edited), for tests/core/test_planted_bugs.py.

`plant(name)` applies one bug: the function or method is replaced where it is defined and in every
module (the course's, and the test modules) that imported it by name. tests/core/test_planted_bugs.py
plants in-process with pytest's monkeypatch (undone after each test) to run existing unit tests,
and through tests/planted/sitecustomize.py (PLANTED_BUG in the environment, this directory on
PYTHONPATH) in the kernel of a notebook that nbval runs.
"""
import importlib
import pkgutil
import sys


_setattr = setattr  # plant() may pass pytest's monkeypatch.setattr, which undoes the bug afterwards


def _replace(module, name, new):
    """`module.name` becomes `new`, and so does every adalora_lite module's alias of the original."""
    mod = importlib.import_module(module)
    old = getattr(mod, name)
    for other in list(sys.modules.values()):  # the course, and test modules that imported it by name
        if (getattr(other, "__name__", "").startswith(("adalora_lite", "test_", "tests."))
                and getattr(other, name, None) is old):
            _setattr(other, name, new)


def top_b_keeps_lowest():
    from adalora_lite import scoring

    def top_b_mask(scores, budget):
        xp = scoring.namespace(scores)
        order = xp.argsort(scores, stable=True)  # bug: ascending, the lowest scores survive
        keep = xp.zeros_like(scores, dtype=bool)
        keep[order[:budget]] = True
        return keep
    _replace("adalora_lite.scoring", "top_b_mask", top_b_mask)


def betas_swapped():
    from adalora_lite import scoring
    smooth = scoring.smooth

    def swapped(ema, uncertainty, now, *, beta1, beta2):
        return smooth(ema, uncertainty, now, beta1=beta2, beta2=beta1)  # bug: beta1 <-> beta2
    _replace("adalora_lite.scoring", "smooth", swapped)


def ubar_is_ibar():
    _replace("adalora_lite.scoring", "entry_score", lambda ema, uncertainty: ema * ema)  # bug: Ibar*Ibar


def _drop_factor_term(factor):
    """The triplet score without mean_j s(P_ji) (factor "P") or mean_j s(Q_ij) (factor "Q")."""
    from adalora_lite import scoring, tracking
    lts = scoring.layer_triplet_scores

    def layer_triplet_scores(s_P, s_lam, s_Q):
        return lts(s_P * (factor != "P"), s_lam, s_Q * (factor != "Q"))
    _replace("adalora_lite.scoring", "layer_triplet_scores", layer_triplet_scores)
    flat_index = tracking.ImportanceTracker.flat_index

    def patched(self):
        if self._index is None:
            triplet_of, weight_of, n = flat_index(self)
            weight_of = weight_of.clone() if hasattr(weight_of, "clone") else weight_of.copy()
            offset = 0
            for layer in self.layers.values():  # flat order per layer: the layer's triplet_layout
                for (name, _), (w, _) in zip(layer.triplet_layout, layer.weights_and_grads()):
                    size = len(w.reshape(-1))
                    if name == factor:
                        weight_of[offset:offset + size] = 0
                    offset += size
            self._index = (triplet_of, weight_of, n)
        return self._index
    _setattr(tracking.ImportanceTracker, "flat_index", patched)


def no_P_term():
    _drop_factor_term("P")


def no_Q_term():
    _drop_factor_term("Q")


def cube_squared():
    from adalora_lite.schedule import BudgetSchedule

    def budget(self, step):
        if step <= self.warmup_steps:
            return self.init_budget
        if step > self.final_start:
            return self.target_budget
        progress = (step - self.warmup_steps) / (self.final_start - self.warmup_steps)
        return int((self.init_budget - self.target_budget) * (1 - progress) ** 2 + self.target_budget)
    _setattr(BudgetSchedule, "budget", budget)


def schedule_one_step_late():
    from adalora_lite.schedule import BudgetSchedule
    budget = BudgetSchedule.budget
    _setattr(BudgetSchedule, "budget", lambda self, step: budget(self, max(step - 1, 0)))  # bug: b(t-1) at t


def orthogonality_grad_sign():
    from adalora_lite import regularizer
    grad = regularizer.orthogonality_grad

    def flipped(P, Q):
        dP, dQ = grad(P, Q)
        return -dP, -dQ  # bug: the step climbs R(P, Q)
    _replace("adalora_lite.regularizer", "orthogonality_grad", flipped)


def scale_alpha_times_r():
    from adalora_lite.nn import layers as torch_layers
    from adalora_lite.reference import layers as ref_layers
    for cls in (torch_layers._Adapter, ref_layers._Adapter):
        init = cls.__init__

        def patched(self, *args, _init=init, **kwargs):
            _init(self, *args, **kwargs)
            self.scale = self.alpha * self.r  # bug: alpha * r instead of alpha / r
        _setattr(cls, "__init__", patched)


def mask_not_reapplied():
    from adalora_lite.allocator import RankAllocator
    # bug: masked lambdas keep what the step gave them
    _setattr(RankAllocator, "reapply_mask", lambda self: None)


BUGS = {f.__name__: f for f in (top_b_keeps_lowest, betas_swapped, ubar_is_ibar, no_P_term, no_Q_term,
                                cube_squared, schedule_one_step_late, orthogonality_grad_sign,
                                scale_alpha_times_r, mask_not_reapplied)}


def plant(name, setattr_=None):
    """Apply bug `name`.

    In this process, with `setattr_` (pytest's monkeypatch.setattr, which undoes every replacement
    afterwards): every module of adalora_lite is imported first, so that every alias of a replaced
    function exists to be replaced now and restored afterwards (a module imported later would keep
    the bug). In a fresh kernel (sitecustomize.py, no `setattr_`): nothing is undone, and a module
    imported after the bug takes the planted function by name as if its source had been edited, so
    only the modules loaded by then are patched. Importing all of adalora_lite took 8.9 s in a fresh
    process here (no bytecode cache); the three planted notebook runs took 78.9 s alone with it in
    every kernel and 66.2 s without.
    """
    global _setattr
    if setattr_ is not None:
        import adalora_lite
        for info in pkgutil.walk_packages(adalora_lite.__path__, "adalora_lite."):
            importlib.import_module(info.name)
    _setattr = setattr_ or setattr
    try:
        BUGS[name]()
    finally:
        _setattr = setattr
