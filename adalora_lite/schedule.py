"""The cubic budget schedule b(t) and when to mask: pure Python, shared by both paths.

Three phases, exactly as PEFT's AdaLoRA (`peft.tuners.adalora.RankAllocator.budget_schedule`):

    step <= warmup_steps                     b = init_budget,  no masking (scores warm up)
    warmup_steps < step <= final_start       b = cubic decay from init_budget to target_budget,
                                             masking every `mask_interval` steps
    step >  final_start                      b = target_budget, the allocation is frozen

with final_start = total_steps - final_steps. At step == final_start the cubic term is exactly 0,
so the budget reaches the target there and that allocation is the one kept to the end.

Whose formula. The cubic branch is the authors' code's and PEFT's:

    b(t) = b(T) + (b(0) - b(T)) * (1 - (t - t_i) / (T - t_i - t_f))^3,   truncated by int()

(github.com/QingruZhang/AdaLoRA at d10f5eb, loralib/loralib/adalora.py, `schedule_threshold`;
PEFT, src/peft/tuners/adalora/layer.py, `RankAllocator.budget_schedule`). The paper's Appendix A
prints the middle branch as b(T) + (b(0) - b(T)) (1 - (t - t_i - t_f) / (T - t_i - t_f))^3 for
t_i <= t < T - t_f, which does not start at b(0) at t = t_i nor reach b(T) at t = T - t_f: it
reads like a typo for (t - t_i), and every implementation runs the (t - t_i) form. The paper
also writes the warm-up as 0 <= t < t_i; the code (and this module) keep b(0) through t = t_i.
"""
from dataclasses import dataclass

from .errors import ConfigError, check_int


@dataclass(frozen=True)
class BudgetSchedule:
    total_steps: int
    init_budget: int
    target_budget: int
    warmup_steps: int
    final_steps: int
    mask_interval: int = 1

    def __post_init__(self):
        check_int("total_steps", self.total_steps, low=1)
        check_int("init_budget", self.init_budget, low=1)
        check_int("target_budget", self.target_budget, low=1, high=self.init_budget)
        check_int("warmup_steps", self.warmup_steps, low=0)
        check_int("final_steps", self.final_steps, low=0)
        check_int("mask_interval", self.mask_interval, low=1)
        if self.warmup_steps + self.final_steps >= self.total_steps:
            raise ConfigError(
                "warmup_steps + final_steps must be < total_steps (the budget needs steps to shrink in), "
                f"got {self.warmup_steps} + {self.final_steps} >= {self.total_steps}")

    @property
    def final_start(self):
        """The step at which the target budget is reached and the allocation freezes."""
        return self.total_steps - self.final_steps

    def budget(self, step):
        """b(t): how many triplets (singular values) may stay unmasked after `step`."""
        if step <= self.warmup_steps:
            return self.init_budget
        if step > self.final_start:
            return self.target_budget
        progress = (step - self.warmup_steps) / (self.final_start - self.warmup_steps)
        # int() truncates like PEFT does, so both implementations agree triplet for triplet.
        return int((self.init_budget - self.target_budget) * (1 - progress) ** 3 + self.target_budget)

    def masks_at(self, step):
        """Whether the allocator re-ranks and masks after `step` (outside the final phase)."""
        if step <= self.warmup_steps or step > self.final_start:
            return False
        return step == self.final_start or step % self.mask_interval == 0


def budget_schedule(step, *, total_steps, init_budget, target_budget, warmup_steps, final_steps):
    """The budget b(`step`) of the cubic schedule, an int; see `BudgetSchedule`."""
    schedule = BudgetSchedule(total_steps=total_steps, init_budget=init_budget,
                              target_budget=target_budget, warmup_steps=warmup_steps,
                              final_steps=final_steps)
    return schedule.budget(check_int("step", step, low=0))
