"""ImportanceTracker: the two moving averages of AdaLoRA's importance, over every adapter entry.

    tracker = ImportanceTracker(layers, beta1=0.85, beta2=0.85)
    ...loss.backward(); optimizer.step()
    tracker.update()                  # I = |w * grad| (eq. (8)) into Ibar, Ubar (eq. (9), (10))
    tracker.ibar, tracker.ubar        # (n_entries,) flat, layers in order
    tracker.triplet_scores()          # S (n_triplets,), eq. (7) with s = Ibar * Ubar (eq. (11))

It scores and never masks: a RankAllocator owns one to choose what to mask, and notebook 05 uses
one alone to watch the scores of a run it must not change.

The flat layout. The weights and gradients of all layers are concatenated into one flat array, so
the EMAs, the entry scores and the per-triplet sums are a handful of array operations whatever the
number of adapted layers. Each layer says how its tensors map onto its r triplets with
`triplet_layout`: ((name, axis), ...) in the order of `weights_and_grads()`, `axis` being the axis
that runs over the triplets. An SVD layer gives (("P", 1), ("lam", 0), ("Q", 0)): P's column i,
lambda_i and Q's row i make triplet i. A LoRA doublet layer gives (("B", 1), ("A", 0)). Eq. (7)
averages each tensor's slice i, so an entry weighs 1 / (the entries of its slice): 1/d_out in P,
1 in lambda, 1/d_in in Q.

The layer protocol it reads: r, triplet_layout, weights_and_grads() ((w, grad), ...) in layout
order, a grad None before the first backward.
"""
import sys
import warnings
from contextlib import contextmanager

import numpy as np

from .errors import NonFiniteGradientError, check_open_unit, outside_package_stacklevel
from .scoring import as_like, importance_scores, namespace, smooth_in_place


class ImportanceTracker:
    def __init__(self, layers, *, beta1=0.85, beta2=0.85):
        """layers: {name: adapter}, every scored matrix of the model, in a fixed order."""
        self.layers = dict(layers)
        self.beta1 = check_open_unit("beta1", beta1)
        self.beta2 = check_open_unit("beta2", beta2)
        self.ibar = self.ubar = None  # (n_entries,) Ibar and Ubar: zeros from first use (flat_index)
        self._index = self._buffers = None  # made on first use, where the weights live
        self._warned_no_grad = set()

    def update(self):
        """One step of both EMAs from the layers' current weights and gradients (all finite)."""
        self.flat_index()
        weights, grads = self._buffers
        with one_thread():
            self._gather(weights, grads)
            xp = namespace(weights)
            i_now = xp.abs(xp.multiply(weights, grads, out=weights), out=weights)  # eq. (8), in place
            if not bool(xp.isfinite(i_now.sum())):  # one reduction, not an isfinite per entry
                self._check_finite()
            smooth_in_place(self.ibar, self.ubar, i_now, grads, beta1=self.beta1, beta2=self.beta2)

    def triplet_scores(self):
        """S (n_triplets,): eq. (7) with s = Ibar * Ubar, every triplet, layers in order."""
        return importance_scores(self)

    def layer_scores(self):
        """{name: S (r,)}: `triplet_scores()` cut into layers."""
        return self.per_layer(self.triplet_scores())

    def per_layer(self, flat):
        """{name: (r,)}: a per-triplet array (scores, a keep-mask) cut into layers."""
        out, first = {}, 0
        for name, layer in self.layers.items():
            out[name], first = flat[first:first + layer.r], first + layer.r
        return out

    def concat_factor(self, name):
        """One factor of every layer (e.g. "lam"), concatenated in layer order."""
        values = [w for layer in self.layers.values()
                  for (factor, _), (w, _) in zip(layer.triplet_layout, layer.weights_and_grads())
                  if factor == name]
        return namespace(values[0]).concat(values)

    def flat_index(self):
        """(triplet_of, weight_of, n_triplets): for every flat entry, the global triplet it belongs
        to and its weight in S_i (see the module docstring)."""
        if self._index is None:
            triplet_of, weight_of, first = [], [], 0
            for layer in self.layers.values():
                for (_, axis), (w, _) in zip(layer.triplet_layout, layer.weights_and_grads()):
                    shape = tuple(w.shape)
                    # the index along `axis` of every entry, row-major: which triplet it is part of
                    along = np.arange(layer.r).reshape([-1 if k == axis else 1 for k in range(len(shape))])
                    triplet_of.append((first + np.broadcast_to(along, shape)).reshape(-1))
                    weight_of.append(np.full(triplet_of[-1].size, 1 / (triplet_of[-1].size // layer.r)))
                first += layer.r
            like = next(iter(self.layers.values())).weights_and_grads()[0][0]
            self._index = (as_like(np.concatenate(triplet_of), like, dtype=_int64(like)),
                           as_like(np.concatenate(weight_of), like), first)
            # Both EMAs start at zero (as PEFT); the gather writes into two buffers made once.
            zeros = self._index[1] * 0
            self.ibar = zeros if self.ibar is None else self.ibar
            self.ubar = zeros * 1 if self.ubar is None else self.ubar
            self._buffers = (zeros * 1, zeros * 1)
        return self._index

    def state_dict(self):
        """{"ibar", "ubar"}: copies (the tracker updates its own arrays in place)."""
        self.flat_index()
        return {"ibar": _copy(self.ibar), "ubar": _copy(self.ubar)}

    def load_state_dict(self, state):
        """Resume from `state_dict()`; None EMAs (saved before any update) start at zero again."""
        self.flat_index()
        if state["ibar"] is None:
            self.ibar, self.ubar = self.ibar * 0, self.ubar * 0
        else:
            self.ibar, self.ubar = _copy(state["ibar"]), _copy(state["ubar"])

    # ---------------------------------------------------------------- internals
    def _gather(self, weights, grads):
        """All adapter weights and gradients, flattened and concatenated into the two buffers."""
        w_parts, g_parts = [], []
        for name, layer in self.layers.items():
            pairs = layer.weights_and_grads()
            if any(g is None for _, g in pairs):
                self._warn_no_grad(name)
            for w, g in pairs:
                w_parts.append(w.reshape(-1))
                g_parts.append((w * 0 if g is None else g).reshape(-1))
        xp = namespace(weights)
        xp.concat(w_parts, out=weights)
        xp.concat(g_parts, out=grads)

    def _warn_no_grad(self, name):
        # A targeted module the forward pass never uses (BERT's pooler when a target is "dense")
        # has no gradient. PEFT crashes on it; here it scores zero and loses its rank first.
        if name not in self._warned_no_grad:
            self._warned_no_grad.add(name)
            warnings.warn(f"adapted layer {name!r} has no gradient (is it used in the forward "
                          "pass?); its importance is taken as 0", stacklevel=outside_package_stacklevel())

    def _check_finite(self):
        """Raise if a gradient holds NaN or inf (a non-finite sum may also be a finite overflow)."""
        bad = [name for name, layer in self.layers.items()
               if any(g is not None and not bool(namespace(g).isfinite(g).all())
                      for _, g in layer.weights_and_grads())]
        if bad:
            raise NonFiniteGradientError(
                f"gradients reaching the allocator must be finite; NaN or inf in layer(s) {bad}. "
                "Lower the learning rate or clip gradients before calling update().")


@contextmanager
def one_thread():
    """torch's intra-op pool limited to one thread inside the block, then restored (NumPy's
    element-wise operations are single-threaded anyway). Ours: each operation of an update is well
    under a millisecond, and split over the pool every one ends on a barrier; on a busy machine
    (more runnable threads than cores) a descheduled thread stalls each barrier, and we measured
    80-100 ms updates instead of 2 ms. One thread is steady, and as fast as PEFT's per-matrix loop
    gets anyway (its operations are too small for the pool)."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else 1
    if before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before > 1:
            torch.set_num_threads(before)


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def _int64(like):
    return np.int64 if isinstance(like, np.ndarray) else namespace(like).int64
