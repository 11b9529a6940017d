"""LoRALinear and SVDLinear as torch modules wrapping a frozen nn.Linear.

Same names, shapes and semantics as `adalora_lite.reference.layers`; autograd replaces the
hand-written backward. Parameters live on the wrapped layer's device and dtype.
"""
import torch
from torch import nn

from ..errors import ConfigError, check_positive, check_rank


class _Adapter(nn.Module):
    """What both adapters share: the frozen base layer, alpha/r, merging, input checks, and the
    forward pass h = W0 x + b + (alpha/r) up @ down(x); each adapter says what `down` and `up` are."""

    def __init__(self, base, r, alpha):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ConfigError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        self.d_out, self.d_in = base.out_features, base.in_features
        self.r = check_rank("r", r, d_out=self.d_out, d_in=self.d_in)
        self.alpha = check_positive("alpha", alpha)
        self.scale = self.alpha / self.r
        self.base = base.requires_grad_(False)
        self.merged = False

    def _new(self, *shape):
        w = self.base.weight
        return nn.Parameter(torch.empty(*shape, dtype=w.dtype, device=w.device))

    def forward(self, x):
        if x.shape[-1] != self.d_in:
            raise ConfigError(f"x must have last dimension d_in={self.d_in}, got shape {tuple(x.shape)}")
        if self.merged:
            return self.base(x)
        rows = x.reshape(-1, self.d_in)  # every token a row: (n, d_in)
        out = self.base(rows)
        # out += scale * down(x) @ up^T, added by the second matmul itself (addmm_, in place), not
        # by two more passes over the (n, d_out) output, a scaling and an addition, each repeated
        # in the backward pass. Measured on MiniLM (2-core CPU, batch 32 x 64): the step 7 % faster.
        down, up = self.down(rows), self.up.T
        if not out.dtype == down.dtype == up.dtype:
            # under autocast `out` may be bfloat16 or float16 while the factors are float32: an
            # in-place product takes no autocast, so cast them as autocast would
            down, up = down.to(out.dtype), up.to(out.dtype)
        out.addmm_(down, up, alpha=self.scale)
        return out.view(*x.shape[:-1], self.d_out)

    @torch.no_grad()
    def merge(self):
        """W <- W0 + delta: inference costs one matmul again, no extra latency."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self):
        """W <- W - delta: back to W0 (up to rounding) to train again or swap adapters."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False


class LoRALinear(_Adapter):
    """h = W0 x + b + (alpha/r) B A x;  A (r, d_in) Kaiming-uniform, B (d_out, r) zero."""

    def __init__(self, base, *, r, alpha):
        super().__init__(base, r, alpha)
        self.A = self._new(self.r, self.d_in)
        self.B = self._new(self.d_out, self.r)
        bound = self.d_in ** -0.5
        nn.init.uniform_(self.A, -bound, bound)
        nn.init.zeros_(self.B)

    def down(self, x):
        return x @ self.A.T  # (n, r)

    @property
    def up(self):
        return self.B

    def delta_weight(self):
        return self.scale * self.B @ self.A  # (d_out, d_in)


class SVDLinear(_Adapter):
    """h = W0 x + b + (alpha/r) P diag(lam) Q x;  lam (r,) zero, P and Q orthogonal or N(0, 0.02^2).

    `mask` (r,) records which triplets survived the last masking; masked lam are exactly zero.
    """

    def __init__(self, base, *, r, alpha, init="orthogonal"):
        super().__init__(base, r, alpha)
        self.P = self._new(self.d_out, self.r)
        self.lam = self._new(self.r)
        self.Q = self._new(self.r, self.d_in)
        if init == "orthogonal":
            nn.init.orthogonal_(self.P)
            nn.init.orthogonal_(self.Q)
        elif init == "gaussian":
            nn.init.normal_(self.P, 0, 0.02)
            nn.init.normal_(self.Q, 0, 0.02)
        else:
            raise ConfigError(f"init must be 'orthogonal' or 'gaussian', got {init!r}")
        nn.init.zeros_(self.lam)
        self.register_buffer("mask", torch.ones(self.r, dtype=torch.bool, device=self.lam.device))
        self.budget_applied = None  # a RankAllocator sets False, then True (see allocator.py)

    def down(self, x):
        return (x @ self.Q.T) * self.lam  # (n, r)

    @property
    def up(self):
        return self.P

    def delta_weight(self):
        return self.scale * (self.P * self.lam) @ self.Q  # (d_out, d_in)

    # -- the layer protocol of the shared RankAllocator (allocator.py, tracking.py; the NumPy
    # SVDLinear has it too). Triplet i is P's column i (axis 1), lam_i and Q's row i (axis 0).
    triplet_layout = (("P", 1), ("lam", 0), ("Q", 0))

    def weights_and_grads(self):
        return _weights_and_grads(self)

    @torch.no_grad()
    def apply_mask(self, keep):
        if self.merged:
            raise RuntimeError("unmerge() the adapter before masking it: the merged weight would go stale")
        self.mask.copy_(torch.as_tensor(keep, device=self.mask.device))
        self.lam.masked_fill_(~self.mask, 0)


class PrunableLoRALinear(LoRALinear):
    """LoRALinear whose r doublets (B's column i, A's row i) a RankAllocator can mask: the paper's
    "Prune LoRA" (Table 4), structured pruning of LoRA with AdaLoRA's importance scores.

    The paper prunes a doublet by zeroing it: "we have to prune all of its elements. It makes
    scarcely possible to reactivate the pruned doublets as their entries are all zeroed out and not
    trained" (§3.1); "the doublets are zeroed out entirely, raising the barrier to reactivate them"
    (§4.4). Here a masked doublet is switched off in the forward pass instead: its gradients are
    zero, so it is not trained (an optimizer's momentum aside) and its score decays, as in the
    paper, but its entries B_*i and A_i* are *kept*, not zeroed, so a doublet the allocator picks
    again returns with its old values. That is our departure from the paper (chosen to mirror a
    masked triplet, which keeps P_i and Q_i while lambda_i = 0); the doublet score is ours too
    (see adalora_lite.allocator).
    """

    def __init__(self, base, *, r, alpha):
        super().__init__(base, r=r, alpha=alpha)
        self.register_buffer("mask", torch.ones(self.r, dtype=torch.bool, device=self.A.device))
        self.budget_applied = None

    def down(self, x):
        return (x @ self.A.T) * self.mask  # (n, r): a masked doublet contributes nothing

    def delta_weight(self):
        return self.scale * (self.B * self.mask) @ self.A

    # -- the layer protocol of RankAllocator, in its two-factor form (allocator.py, tracking.py):
    # doublet i is B's column i (axis 1) and A's row i (axis 0).
    triplet_layout = (("B", 1), ("A", 0))

    def weights_and_grads(self):
        return _weights_and_grads(self)

    @torch.no_grad()
    def apply_mask(self, keep):
        if self.merged:
            raise RuntimeError("unmerge() the adapter before masking it: the merged weight would go stale")
        self.mask.copy_(torch.as_tensor(keep, device=self.mask.device))


def _weights_and_grads(adapter):
    """((w, grad), ...) in the order of `adapter.triplet_layout`; a grad is None before backward."""
    params = [getattr(adapter, name) for name, _ in adapter.triplet_layout]
    return tuple((p.detach(), p.grad) for p in params)
