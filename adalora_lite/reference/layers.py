"""LoRALinear and SVDLinear in NumPy: forward and hand-written backward.

Conventions, as torch.nn.Linear: inputs are rows, x (n, d_in); the frozen weight W0 is (d_out, d_in);
h = x W0^T + b + (adapter). `backward(dh)` returns dx and stores the adapter's gradients in
`self.grads` (W0 and b are frozen, so they get none).
"""
import numpy as np

from ..errors import ConfigError, check_positive, check_rank


class _Adapter:
    """What LoRA and SVD adapters share: the frozen layer, the scale alpha/r and shape checks."""

    def __init__(self, weight, bias, r, alpha):
        weight = np.asarray(weight)
        if weight.ndim != 2:
            raise ConfigError(f"weight must be a 2-D (d_out, d_in) array, got shape {weight.shape}")
        self.d_out, self.d_in = weight.shape
        self.r = check_rank("r", r, d_out=self.d_out, d_in=self.d_in)
        self.alpha = check_positive("alpha", alpha)
        self.scale = self.alpha / self.r  # alpha/r: the update's size stays put when r changes
        self.weight = weight
        self.bias = None if bias is None else np.asarray(bias, dtype=weight.dtype)
        self.grads = {}

    def _base(self, x):
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ConfigError(f"x must have shape (n, {self.d_in}), got {x.shape}")
        h = x @ self.weight.T
        return h if self.bias is None else h + self.bias


class LoRALinear(_Adapter):
    """h = x W0^T + b + (alpha/r) x A^T B^T.

    A (r, d_in) starts random (Kaiming-uniform, as loralib and PEFT), B (d_out, r) starts at zero,
    so B A = 0: training starts exactly from the pretrained model, and A's randomness gives B a
    non-zero gradient on the first step.
    """

    def __init__(self, weight, bias=None, *, r, alpha, rng=None):
        super().__init__(weight, bias, r, alpha)
        rng = np.random.default_rng(rng)
        bound = 1 / np.sqrt(self.d_in)
        self.A = rng.uniform(-bound, bound, size=(self.r, self.d_in)).astype(self.weight.dtype)
        self.B = np.zeros((self.d_out, self.r), dtype=self.weight.dtype)

    def params(self):
        return {"A": self.A, "B": self.B}

    def delta_weight(self):
        return self.scale * self.B @ self.A  # (d_out, d_in)

    def forward(self, x):
        self._x = x
        self._u = x @ self.A.T  # (n, r): the input projected on the r directions of A
        return self._base(x) + self.scale * self._u @ self.B.T

    def backward(self, dh):
        x, u = self._x, self._u
        du = self.scale * dh @ self.B  # (n, r)
        self.grads = {"B": self.scale * dh.T @ u, "A": du.T @ x}
        return dh @ self.weight + du @ self.A


class SVDLinear(_Adapter):
    """h = x W0^T + b + (alpha/r) x Q^T diag(lam) P^T, the AdaLoRA triplet form P diag(lam) Q.

    P (d_out, r) and Q (r, d_in) play the singular vectors, lam (r,) the singular values. lam
    starts at zero (the update starts at zero, as LoRA's B = 0). `init` chooses P and Q:
    "orthogonal" (orthonormal columns/rows: the regularizer starts at its minimum and every lam
    gets a full-size gradient) or "gaussian" (N(0, 0.02^2) entries, what PEFT does).

    Masking a triplet sets lam_i to 0 and records it in `mask`; P and Q stay, so the triplet can
    come back if its lam grows again before the next masking (the paper's operator T).
    """

    def __init__(self, weight, bias=None, *, r, alpha, init="orthogonal", rng=None):
        super().__init__(weight, bias, r, alpha)
        rng = np.random.default_rng(rng)
        dtype = self.weight.dtype
        if init == "orthogonal":
            self.P = np.linalg.qr(rng.standard_normal((self.d_out, self.r)))[0].astype(dtype)
            self.Q = np.linalg.qr(rng.standard_normal((self.d_in, self.r)))[0].T.astype(dtype)
        elif init == "gaussian":
            self.P = rng.normal(0, 0.02, size=(self.d_out, self.r)).astype(dtype)
            self.Q = rng.normal(0, 0.02, size=(self.r, self.d_in)).astype(dtype)
        else:
            raise ConfigError(f"init must be 'orthogonal' or 'gaussian', got {init!r}")
        self.lam = np.zeros(self.r, dtype=dtype)
        self.mask = np.ones(self.r, dtype=bool)  # True: the triplet survived the last masking
        self.budget_applied = None  # a RankAllocator sets False, then True (see allocator.py)

    def params(self):
        return {"P": self.P, "lam": self.lam, "Q": self.Q}

    def delta_weight(self):
        return self.scale * (self.P * self.lam) @ self.Q  # (d_out, d_in)

    def forward(self, x):
        self._x = x
        self._u = x @ self.Q.T  # (n, r): coordinates of x along the right singular vectors
        return self._base(x) + self.scale * (self._u * self.lam) @ self.P.T

    def backward(self, dh):
        x, u = self._x, self._u
        dv = self.scale * dh @ self.P  # (n, r): gradient wrt v = u * lam
        du = dv * self.lam
        self.grads = {"P": self.scale * dh.T @ (u * self.lam), "lam": (dv * u).sum(axis=0),
                      "Q": du.T @ x}
        return dh @ self.weight + du @ self.Q

    # -- the layer protocol of the shared RankAllocator (allocator.py, tracking.py; the torch
    # SVDLinear has it too). Triplet i is P's column i (axis 1), lam_i and Q's row i (axis 0).
    triplet_layout = (("P", 1), ("lam", 0), ("Q", 0))

    def weights_and_grads(self):
        """((P, dP), (lam, dlam), (Q, dQ)); a grad is None if backward has not run."""
        return tuple((getattr(self, name), self.grads.get(name)) for name, _ in self.triplet_layout)

    def apply_mask(self, keep):
        """Zero lam outside `keep` (r,) bool; P and Q are untouched, so a triplet can return."""
        self.mask = np.asarray(keep, dtype=bool).copy()
        self.lam[~self.mask] = 0
