"""Data-aware initialization of LoRA adapters (notebook 08): start A (and B) from the pretrained
layer or from the task instead of at random.

The standard LoRA start is A random (Kaiming-uniform in loralib, PEFT and ours; "random Gaussian" in
the LoRA paper, §4.1), B = 0. Can statistics of the pretrained weight (PiSSA, Meng et al. 2024,
arXiv 2404.02948) or of the task's activations (EVA, Paischer et al. 2024, arXiv 2410.07170) give a
better start? Two such initializations are implemented here, each keeping the model's function at
step 0 (scale = alpha/r, W0 = U Sigma V^T):

    pissa_init(layer)                 PiSSA (Meng et al. 2024): the top-r singular triplets of W0,
                                      W0 = U Sigma V^T, go into the adapter, split evenly:
                                          B = U_r sqrt(Sigma_r / scale),  A = sqrt(Sigma_r / scale) V_r^T
                                      and the frozen weight becomes the *residual*
                                          W0 <- W0 - scale B A = W0 - U_r Sigma_r V_r^T.
                                      The adapter's change is not zero (it is the principal part of
                                      W0), but W0_res + scale B A = W0, so the layer computes the same
                                      function at step 0, up to float rounding (~1e-7 relative in
                                      float32). Training then moves the principal directions.
    pissa_init(layer, residual=False) B = 0 and A = the top-r right singular vectors of W0 (each
                                      row scaled to the standard init's expected row norm): the
                                      change B A is exactly zero, W0 is untouched.
    covariance_init(layer, C)         a simplified EVA (ours): A = the top-r eigenvectors
                                      of the layer's input second moment C = E[x x^T] (collected
                                      with `collect_input_covariances` on a few task batches), rows
                                      scaled like the standard init; B = 0, so the change is exactly
                                      zero and W0 is untouched. A projects the input on the
                                      directions where the task's activations have the most energy.

"Scaled like the standard init": A's rows from uniform(-1/sqrt(d_in), 1/sqrt(d_in)) have expected
squared norm 1/3, so the direction-based inits use rows of norm 1/sqrt(3): at the same learning
rate, only the *directions* differ from the standard start, not the size.

Every function takes a NumPy layer (`adalora_lite.reference.LoRALinear`) or a torch one
(`adalora_lite.nn.LoRALinear`) and does the same arithmetic in float64 (NumPy with numpy.linalg,
torch with torch.linalg), with one sign convention for singular/eigen vectors (the entry of largest
magnitude of each left vector is positive), so both back-ends give the same A, B and residual W0.

    INIT_METHODS                            ("standard", "pissa", "covariance")
    top_singular(W, r), top_eigen(C, r)     sign-fixed truncated SVD / eigendecomposition
    input_covariance(X, mask=None)          E[x x^T] over rows (tokens) of X, padding masked out
    collect_input_covariances(model, batches, adapters=None)   {name: C} through forward hooks
    apply_init(adapters, method, covariances=None)             one init on every adapter

What the adapters then learn: learned_update.py; the MiniLM runs that compare the inits: analysis.py.
"""
import numpy as np

from ..errors import ConfigError
from ..scoring import is_torch
from ..scoring import namespace as _lib
from .common import single_thread

INIT_METHODS = ("standard", "pissa", "covariance")
ROW_NORM = 3 ** -0.5  # expected row norm of A under the standard uniform(-1/sqrt(d_in), 1/sqrt(d_in)) init


# ------------------------------------------------------------------------------ linear algebra
def _fix_signs(lib, left, right):
    """Flip each pair (left[:, j], right[j]) so that left's largest-|.| entry is positive."""
    idx = lib.argmax(abs(left), axis=0) if lib is np else left.abs().argmax(dim=0)
    signs = lib.sign(left[idx, lib.arange(left.shape[1])])
    signs[signs == 0] = 1
    return left * signs, right * signs[:, None]


@single_thread()  # multi-threaded LAPACK on a busy 2-core machine: 100x slower SVDs
def top_singular(W, r):
    """(U_r (d_out, r), sigma_1..sigma_r (r,), V_r^T (r, d_in)) of W in float64, signs fixed; NumPy or torch."""
    lib = _lib(W)
    W = W.double() if lib is not np else np.asarray(W, dtype=np.float64)
    U, S, Vt = lib.linalg.svd(W, full_matrices=False)
    U, Vt = _fix_signs(lib, U[:, :r], Vt[:r])
    return U, S[:r], Vt


@single_thread()
def top_eigen(C, r):
    """(eigenvalues (r,) descending, eigenvectors as rows (r, d)) of a symmetric C, float64, signs fixed."""
    lib = _lib(C)
    C = C.double() if lib is not np else np.asarray(C, dtype=np.float64)
    C = (C + C.T) / 2
    vals, vecs = lib.linalg.eigh(C)
    order = lib.flip(lib.arange(len(vals)), [0]) if lib is not np else np.arange(len(vals))[::-1]
    vals, vecs = vals[order[:r]], vecs[:, order[:r]]
    vecs, _ = _fix_signs(lib, vecs, vecs.T)
    return vals, vecs.T


def input_covariance(X, mask=None):
    """Uncentred second moment E[x x^T] (d, d) over the rows of X (n, d) or (batch, tokens, d),
    float64; `mask` (same leading shape, 1 = real token) drops padding."""
    lib = _lib(X)
    X = X.double() if lib is not np else np.asarray(X, dtype=np.float64)
    X = X.reshape(-1, X.shape[-1])
    if mask is not None:
        keep = mask.reshape(-1).bool() if lib is not np else np.asarray(mask).reshape(-1).astype(bool)
        X = X[keep]
    if X.shape[0] == 0:
        raise ConfigError("no rows to estimate the covariance from")
    return X.T @ X / X.shape[0]


# ------------------------------------------------------------------------------ layer access
def _weight(layer):
    return layer.base.weight if is_torch(layer) else layer.weight


def _set(layer, **arrays):
    """Write float64 arrays into the layer's A, B, or frozen weight ("W"), in the layer's dtype."""
    if is_torch(layer):
        import torch
        with torch.no_grad():
            for name, value in arrays.items():
                target = layer.base.weight if name == "W" else getattr(layer, name)
                target.copy_(value.to(target.dtype))
    else:
        dtype = layer.weight.dtype
        for name, value in arrays.items():
            setattr(layer, "weight" if name == "W" else name, np.asarray(value).astype(dtype))


# ------------------------------------------------------------------------------ initializations
def pissa_init(layer, *, residual=True, row_norm=ROW_NORM):
    """PiSSA start from the top-r singular triplets of the frozen weight (see the module docstring).

    residual=True:  B = U_r sqrt(Sigma_r/scale), A = sqrt(Sigma_r/scale) V_r^T, W0 <- W0 - U_r Sigma_r V_r^T (function
                    unchanged at step 0; the adapter holds W0's principal part).
    residual=False: B = 0, A = row_norm * V_r^T (change exactly zero, W0 untouched).
    Returns the layer.
    """
    if getattr(layer, "merged", False):
        raise ConfigError("unmerge() the adapter before re-initializing it")
    W = _weight(layer)
    U, S, Vt = top_singular(W, layer.r)
    lib = _lib(W)
    if residual:
        root = lib.sqrt(S / layer.scale)
        principal = (U * S) @ Vt
        W64 = W.double() if lib is not np else np.asarray(W, np.float64)
        _set(layer, B=U * root, A=root[:, None] * Vt, W=W64 - principal)
    else:
        _set(layer, B=lib.zeros_like(U), A=row_norm * Vt)
    return layer


def covariance_init(layer, covariance, *, row_norm=ROW_NORM):
    """A = row_norm * (top-r eigenvectors of the input second moment), B = 0: the change is exactly
    zero and W0 untouched. `covariance` (d_in, d_in), e.g. from `collect_input_covariances`."""
    if getattr(layer, "merged", False):
        raise ConfigError("unmerge() the adapter before re-initializing it")
    if tuple(covariance.shape) != (layer.d_in, layer.d_in):
        raise ConfigError(f"covariance must be ({layer.d_in}, {layer.d_in}), got {tuple(covariance.shape)}")
    _, vecs = top_eigen(covariance, layer.r)
    B = _lib(vecs).zeros((layer.d_out, layer.r), dtype=vecs.dtype)
    _set(layer, A=row_norm * vecs, B=B)
    return layer


def apply_init(adapters, method, *, covariances=None, residual=True):
    """Apply `method` ("standard": leave as built; "pissa"; "covariance", which needs
    {name: C}) to every adapter of {name: LoRALinear}. Returns the adapters."""
    if method not in INIT_METHODS:
        raise ConfigError(f"method must be one of {INIT_METHODS}, got {method!r}")
    if method == "covariance" and covariances is None:
        raise ConfigError("covariance init needs covariances={name: E[x x^T]}: see collect_input_covariances")
    for name, layer in adapters.items():
        if method == "pissa":
            pissa_init(layer, residual=residual)
        elif method == "covariance":
            covariance_init(layer, covariances[name])
    return adapters


# ------------------------------------------------------------------------------ statistics
def collect_input_covariances(model, batches, adapters=None):
    """{adapter name: E[x x^T] of its input} over `batches`, float64, padding tokens excluded.

    torch: `model` an nn.Module holding `adalora_lite.nn` adapters, batches dicts for model(**batch)
    (an "attention_mask" entry masks padding); forward hooks on each adapter record its input.
    NumPy: `model` a `reference.MLP` (adapters: model.layers), batches arrays x (n, d_in); each
    layer's forward is wrapped for the duration. Returns NumPy arrays for NumPy, tensors for torch.
    """
    if adapters is None:
        if hasattr(model, "layers") and not is_torch(model):
            adapters = model.layers
        else:
            from ..nn import find_adapters
            adapters = find_adapters(model)
    sums = {name: 0.0 for name in adapters}
    counts = dict.fromkeys(adapters, 0)
    if is_torch(model):
        import torch
        state = {"mask": None}

        def hook_for(name):
            def hook(module, args):
                x = args[0].detach().double().reshape(-1, args[0].shape[-1])
                if state["mask"] is not None:
                    x = x[state["mask"].reshape(-1).bool()]
                sums[name] = sums[name] + x.T @ x
                counts[name] += x.shape[0]
            return hook

        handles = [layer.register_forward_pre_hook(hook_for(name)) for name, layer in adapters.items()]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for batch in batches:
                    state["mask"] = batch.get("attention_mask")
                    model(**batch)
        finally:
            for h in handles:
                h.remove()
            model.train(was_training)
    else:
        originals = {}
        for name, layer in adapters.items():
            originals[name] = layer.forward

            def wrapped(x, _name=name, _f=layer.forward):
                x64 = np.asarray(x, np.float64)
                sums[_name] = sums[_name] + x64.T @ x64
                counts[_name] += x64.shape[0]
                return _f(x)
            layer.forward = wrapped
        try:
            for x in batches:
                model.forward(x)
        finally:
            for name, layer in adapters.items():
                del layer.forward  # back to the class method
    if not all(counts.values()):
        raise ConfigError("some adapters saw no input: are they on the model's forward path?")
    return {name: sums[name] / counts[name] for name in adapters}
