"""Checkers for notebook 06's "try it" exercises (budget schedule and pruning).

Each checker takes the student's answer (None while unanswered) and returns a Feedback: truthy
when right, and its text (what the notebook shows) says why, or what to look at again.

    check_budget_at_step(answer, step=350, ...)      b(t) of the cubic schedule, by hand
    check_kept_parameters(answer, budget=12, ...)    trainable parameters left after pruning
    check_final_ranks(answer, target_budget=8)       AdaLoRA's final rank per layer on the
                                                     planted-rank task, read off the dashboard

The schedule is the one the authors' code and PEFT run, progress = (t - t_i) / (T - t_i - t_f);
the paper's Appendix A prints (t - t_i - t_f) in the numerator, which reads like a typo (see
adalora_lite.schedule).
"""

from .feedback import Feedback, as_number, not_a_number, unanswered
from ..counting import parameter_count
from ..schedule import BudgetSchedule
from ..labs.budget import TrajectoryParams, recorded
from ..labs.planted import PLANTED_SCHEDULE

# The schedule of notebook 06's dashboard: the planted task's steps, 32 -> 12 triplets
SCHEDULE = dict(PLANTED_SCHEDULE, init_budget=32, target_budget=12)


def check_budget_at_step(answer, step=350, **schedule):
    """b(step) of the cubic schedule (default: the notebook's T=1000, 200/300, 32 -> 12)."""
    kw = dict(SCHEDULE, **schedule)
    s = BudgetSchedule(**kw)
    if answer is None:
        return unanswered("progress = (t - warm-up) / (T - final - warm-up); b = bT + (b0 - bT) "
                          "(1 - progress)^3, then cut to a whole number.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer, "a single whole number")
    expected = s.budget(step)
    b0, bT, tw, tf = s.init_budget, s.target_budget, s.warmup_steps, s.final_start
    if value == expected:
        return Feedback(True, f"Right: b({step}) = {expected}. The library truncates "
                              f"{_exact(s, step):.4g} to a whole number of triplets, as PEFT does.")
    if tw < step <= tf:
        progress = (step - tw) / (tf - tw)
        if value == round(_exact(s, step)):
            return Feedback(False, f"Close: {_exact(s, step):.4g} rounded gives {value:g}, but the "
                                   "schedule cuts the fraction off (int(), like PEFT).")
        if value in (int(bT + (b0 - bT) * (1 - progress)), round(bT + (b0 - bT) * (1 - progress))):
            return Feedback(False, "That is a *linear* decay. The budget falls with the cube of "
                                   "(1 - progress): fast at first, slowly near the target.")
        no_warmup = step / tf
        if value == int(bT + (b0 - bT) * (1 - no_warmup) ** 3):
            return Feedback(False, f"Almost: progress counts from the end of warm-up (step {tw}), "
                                   f"not from step 0.")
    return Feedback(False, f"Not quite ({value:g}). Is step {step} in the warm-up, the cubic "
                           "decay or the final phase? Compute progress, then b.")


def _exact(s, step):
    progress = (step - s.warmup_steps) / (s.final_start - s.warmup_steps)
    return (s.init_budget - s.target_budget) * (1 - progress) ** 3 + s.target_budget


def check_kept_parameters(answer, budget=12, d_out=24, d_in=24, n_layers=4, r=8):
    """Trainable parameters AdaLoRA keeps with `budget` triplets in (d_out, d_in) layers."""
    if answer is None:
        return unanswered("a triplet is one column of P, one lambda and one row of Q.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer, "a single whole number")
    expected = parameter_count(d_out, d_in, budget, "svd")  # `budget` triplets, each layer alike
    if value == expected:
        uniform = budget // n_layers
        return Feedback(True, f"Right: {budget} x ({d_out} + {d_in} + 1) = {expected}. A uniform "
                              f"LoRA of rank {uniform} in {n_layers} layers has "
                              f"{n_layers * parameter_count(d_out, d_in, uniform, 'lora')}: the "
                              "same budget, up to the lambdas.")
    if value == parameter_count(d_out, d_in, budget, "lora"):
        return Feedback(False, "Almost: that counts P's column and Q's row, but each triplet "
                               "also has its own lambda.")
    if value == n_layers * parameter_count(d_out, d_in, r, "svd"):
        return Feedback(False, f"That is the count at the start ({n_layers} layers x r={r}). "
                               f"After pruning only {budget} triplets carry weight.")
    if value == budget * d_out * d_in or value == n_layers * d_out * d_in:
        return Feedback(False, "That counts whole weight matrices. A triplet is a rank-one piece: "
                               "a vector of d_out, a scalar, a vector of d_in.")
    return Feedback(False, f"Not quite ({value:g}). Count the entries of one triplet "
                           f"(P is {d_out} x r, Q is r x {d_in}), then multiply by the budget.")


def final_ranks(target_budget=8, **params):
    """AdaLoRA's final rank per layer on the notebook's planted task (recorded, cached)."""
    trajectory = recorded(TrajectoryParams(target_budget=target_budget, **params), progress=False)
    return [trajectory.final_ranks()[n] for n in trajectory.layer_names]


def check_final_ranks(answer, target_budget=8, **params):
    """The final ranks (one per layer) AdaLoRA reaches with `target_budget` on the planted task."""
    if answer is None:
        return unanswered(f"set the dashboard's target budget to {target_budget}, move t to the "
                          "end and read the rank of each layer, e.g. [1, 2, 2, 3].")
    try:
        values = [int(v) for v in answer]
    except (TypeError, ValueError):
        return Feedback(False, f"Give one whole number per layer, as a list like [1, 2, 2, 3]; got "
                               f"{answer!r}.")
    expected = final_ranks(target_budget, **params)
    if len(values) != len(expected):
        return Feedback(False, f"There are {len(expected)} adapted layers: give {len(expected)} "
                               f"numbers, got {len(values)}.")
    if values == expected:
        planted = TrajectoryParams(**params).planted_ranks
        short = [f"layers.{k}" for k, (e, p) in enumerate(zip(expected, planted)) if e < p]
        return Feedback(True, f"Right: {expected}, against planted {list(planted)}. With fewer "
                              f"triplets than planted directions, "
                              f"{', '.join(short) if short else 'no layer'} gave some up.")
    if sum(values) != target_budget:
        return Feedback(False, f"Your ranks add up to {sum(values)}; at the end they must add up "
                               f"to the target budget {target_budget}.")
    wrong = [f"layers.{k}" for k, (v, e) in enumerate(zip(values, expected)) if v != e]
    return Feedback(False, f"Not quite: look again at {', '.join(wrong)} (step t at the very end, "
                           "target budget set as asked, other sliders at their defaults).")


def allocation_or_reference(top_b_mask=None, cubic_budget=None):
    """(top_b_mask, cubic_budget): each of the learner's write-it functions of notebook 06 that
    passes its checker, else the reference solution; prints which is used."""
    from . import solutions, write_it
    from .build import _use_or_reference
    return (_use_or_reference(top_b_mask, write_it.check_top_b_mask, solutions.top_b_mask,
                              "top_b_mask"),
            _use_or_reference(cubic_budget, write_it.check_cubic_budget, solutions.cubic_budget,
                              "cubic_budget"))
