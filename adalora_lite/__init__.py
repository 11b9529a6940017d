"""adalora-lite: low-rank adaptation from first principles up to AdaLoRA.

Shared by both paths (array-library agnostic):
    budget_schedule, BudgetSchedule      the cubic budget b(t) and when to mask
    RankAllocator                        the budget schedule's phases and global top-b masking
    ImportanceTracker                    importance EMAs Ibar, Ubar and triplet scores, never masks
    sensitivity, smooth, entry_score, triplet_scores, top_b_mask    the scoring steps, one by one
    layer_triplet_scores                 S_i of one layer, the paper's eq. (7) as written
    orthogonality_penalty, orthogonality_grad                       R(P, Q) and its gradient
    ConfigError, NonFiniteGradientError  what bad input raises (both are ValueErrors)
    BudgetNotAppliedWarning              saving/merging adapters whose allocator never finished

Two implementations of the adapters, same names and semantics:
    adalora_lite.reference   NumPy, forward and hand-written backward (LoRALinear, SVDLinear, MLP)
    adalora_lite.nn          PyTorch modules and model surgery (import it explicitly: it loads torch)

The core (this package's modules and reference/) needs NumPy alone. The course around it lives in
sub-packages, one module per topic (rank, intrinsic, lora, svd, importance, budget, transformer,
analysis): labs/ (the experiments), viz/ (figures), widgets/ (panels), exercises/ (checkers);
data/ loads the offline data and models, results/ holds the recorded benchmark results.
"""
from . import reference
from .allocator import RankAllocator
from .errors import BudgetNotAppliedWarning, ConfigError, NonFiniteGradientError
from .regularizer import orthogonality_grad, orthogonality_penalty
from .schedule import BudgetSchedule, budget_schedule
from .scoring import (entry_score, layer_triplet_scores, sensitivity, smooth, top_b_mask,
                      triplet_scores)
from .tracking import ImportanceTracker

__all__ = ["budget_schedule", "BudgetSchedule", "RankAllocator", "ImportanceTracker", "sensitivity",
           "smooth", "entry_score", "layer_triplet_scores", "triplet_scores", "top_b_mask", "orthogonality_penalty",
           "orthogonality_grad", "ConfigError", "NonFiniteGradientError", "BudgetNotAppliedWarning", "reference"]
