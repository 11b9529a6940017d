"""Reading what an adapter learned: the trained change Delta W of each adapted matrix.

Delta W is measured as (weight the layer applies now) - (weight it applied before training):
`snapshot(adapters)` before, `update_report(adapters, before)` after. That is the *trained*
change for every initialization, including PiSSA, whose adapter starts non-zero (its W0 is a
residual, see data_aware_init.py): the pretrained weight W0 is the "before" snapshot in all cases.

`effective_weight(layer)` is that weight, W0 (current base) + scale B A, as a float64 NumPy array
(NumPy or torch layer). Per matrix (`analyze_update(delta, W0, r)`):

    spectrum            singular values of Delta W, the first 2r stored: at most r are non-zero
                        when B or A starts at zero (Delta W = scale B A), up to 2r for PiSSA, whose
                        trained change scale (B A - B0 A0) is a difference of two rank-r products
    effective_rank      rank.entropy_effective_rank: exp(entropy of sigma / sum sigma) (Roy & Vetterli
                        2007): r when the r values are
                        equal, 1 when one dominates; compare with the rank r the adapter was given
    energy_rank_90      rank.energy_rank: fewest singular values holding 90% of ||Delta W||_F^2
    w0_subspace_energy  share of ||Delta W||_F^2 inside W0's top-r singular subspaces,
                        ||U0^T Delta W V0||_F^2 / ||Delta W||_F^2 (U0, V0: W0's top-r singular vectors)
    random_baseline     what a random Delta W would give: (r / d_out) (r / d_in)
    amplification       the LoRA paper's ||Delta W||_F / ||U^T W0 V||_F, U, V the top-r singular
                        vectors of Delta W: large when Delta W amplifies directions W0 barely uses
    delta_norm, w0_norm ||Delta W||_F and ||W0||_F

`report_grid(report, key)` arranges one quantity as (6 modules x layers), like notebook 07's rank
heat map; `module_means(report, key)` averages it per module type.
"""
import numpy as np

from ..errors import ConfigError
from ..scoring import is_torch
from .common import single_thread
from .rank import energy_rank, entropy_effective_rank
from .minilm_matrices import rank_grid

QUANTITIES = {
    "effective_rank": "effective rank (exp entropy)",
    "energy_rank_90": "rank holding 90% of the energy",
    "w0_subspace_energy": "share of energy in W0's top-r subspace",
    "amplification": "amplification ||dW|| / ||U^T W0 V||",
    "delta_norm": "||Delta W||_F",
}


def effective_weight(layer):
    """The weight the layer applies now, W0 (current frozen base) + (alpha/r) B A, float64 NumPy."""
    if is_torch(layer):
        import torch
        with torch.no_grad():
            W = layer.base.weight.double()
            if not layer.merged:
                W = W + layer.delta_weight().double()
        return W.cpu().numpy()
    return np.asarray(layer.weight, np.float64) + np.asarray(layer.delta_weight(), np.float64)


def spectrum(delta):
    """Singular values of a matrix, descending, float64."""
    return np.linalg.svd(np.asarray(delta, np.float64), compute_uv=False)


def subspace_energy(delta, W0, r):
    """||U0^T Delta W V0||_F^2 / ||Delta W||_F^2 with U0, V0 the top-r singular vectors of W0."""
    delta = np.asarray(delta, np.float64)
    U, _, Vt = np.linalg.svd(np.asarray(W0, np.float64), full_matrices=False)
    total = (delta ** 2).sum()
    if total == 0:
        return 0.0
    return float(((U[:, :r].T @ delta @ Vt[:r].T) ** 2).sum() / total)


def amplification(delta, W0, r, *, _svd=None):
    """The LoRA paper's amplification factor ||Delta W||_F / ||U^T W0 V||_F, U and V the top-r
    left/right singular vectors of Delta W."""
    delta = np.asarray(delta, np.float64)
    U, _, Vt = np.linalg.svd(delta, full_matrices=False) if _svd is None else _svd
    projected = np.linalg.norm(U[:, :r].T @ np.asarray(W0, np.float64) @ Vt[:r].T)
    if projected == 0:
        raise ConfigError("W0 has no component in Delta W's top singular subspace")
    return float(np.linalg.norm(delta) / projected)


@single_thread()  # multi-threaded LAPACK on a busy 2-core machine: 100x slower SVDs
def analyze_update(delta, W0, r):
    """Every quantity of the module docstring for one matrix, as a dict (spectrum: the first 2r values)."""
    delta = np.asarray(delta, np.float64)
    W0 = np.asarray(W0, np.float64)
    if delta.shape != W0.shape:
        raise ConfigError(f"delta {delta.shape} and W0 {W0.shape} must have the same shape")
    svd = np.linalg.svd(delta, full_matrices=False)  # once, for the spectrum and the amplification
    sigma = svd[1]
    d_out, d_in = W0.shape
    return {"r": int(r), "shape": [d_out, d_in], "spectrum": sigma[:2 * r].tolist(),
            "effective_rank": entropy_effective_rank(sigma), "energy_rank_90": energy_rank(sigma, 0.9),
            "w0_subspace_energy": subspace_energy(delta, W0, r),
            "random_baseline": (r / d_out) * (r / d_in),
            "amplification": amplification(delta, W0, r, _svd=svd),
            "delta_norm": float(np.linalg.norm(delta)), "w0_norm": float(np.linalg.norm(W0))}


def snapshot(adapters):
    """{name: the weight each adapter applies now (W0 + scale B A), float64 NumPy}: call before training."""
    return {name: effective_weight(layer) for name, layer in adapters.items()}


def update_report(adapters, before):
    """{name: analyze_update(trained change, pretrained weight, layer.r)} for every adapter;
    `before` is the `snapshot` taken before training (the pretrained weights)."""
    missing = set(adapters) - set(before)
    if missing:
        raise ConfigError(f"no 'before' snapshot for {sorted(missing)[:3]}")
    return {name: analyze_update(effective_weight(layer) - before[name], before[name], layer.r)
            for name, layer in adapters.items()}


def report_grid(report, key):
    """(grid (6 modules, layers), module labels, layer numbers from 1) of one quantity."""
    if key not in QUANTITIES and key not in ("random_baseline", "w0_norm"):
        raise ConfigError(f"key must be one of {list(QUANTITIES)}, got {key!r}")
    return rank_grid({name: entry[key] for name, entry in report.items()})


def module_means(report, key):
    """{module label (W_q ... W_f2): mean of `key` over the layers}."""
    grid, labels, _ = report_grid(report, key)
    return {label: float(grid[i].mean()) for i, label in enumerate(labels)}


def compact(report, keys=("effective_rank", "energy_rank_90", "w0_subspace_energy",
                          "random_baseline", "amplification", "delta_norm")):
    """The report without spectra, floats rounded to 6 significant digits (for a JSON file)."""
    return {name: {k: float(f"{entry[k]:.6g}") for k in keys} | {"r": entry["r"]}
            for name, entry in report.items()}
