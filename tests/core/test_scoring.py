"""scoring.py: the per-layer definition of S_i, and the vectorised path tested against it."""
import numpy as np
import pytest
import torch

from adalora_lite import layer_triplet_scores, triplet_scores
from adalora_lite.scoring import as_like, is_torch, namespace, smooth, smooth_in_place

SHAPES = [(5, 3, 4), (2, 2, 7), (6, 1, 6)]  # (d_out, r, d_in) per layer


def flat_layout(shapes):
    """The allocator's flat order (per layer: P row-major, lam, Q row-major), built by hand."""
    triplet_of, weight_of, offset = [], [], 0
    for d_out, r, d_in in shapes:
        ids = offset + np.arange(r)
        triplet_of += [np.tile(ids, d_out), ids, np.repeat(ids, d_in)]
        weight_of += [np.full(d_out * r, 1 / d_out), np.ones(r), np.full(r * d_in, 1 / d_in)]
        offset += r
    return np.concatenate(triplet_of), np.concatenate(weight_of), offset


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_scores_match_the_definition_layer_by_layer(seed):
    rng = np.random.default_rng(seed)
    per_layer = [(rng.random((d_out, r)), rng.random(r), rng.random((r, d_in)))
                 for d_out, r, d_in in SHAPES]
    flat = np.concatenate([np.concatenate([P.ravel(), lam, Q.ravel()]) for P, lam, Q in per_layer])
    triplet_of, weight_of, n = flat_layout(SHAPES)
    expected = np.concatenate([layer_triplet_scores(P, lam, Q) for P, lam, Q in per_layer])
    np.testing.assert_allclose(triplet_scores(flat, triplet_of, weight_of, n), expected, rtol=1e-12)
    fast = triplet_scores(torch.as_tensor(flat), torch.as_tensor(triplet_of),
                          torch.as_tensor(weight_of), n)
    np.testing.assert_allclose(fast.numpy(), expected, rtol=1e-12)


def test_the_definition_reads_as_the_paper():
    s_P = np.array([[1.0, 0.0], [3.0, 2.0]])  # mean over rows j: (2, 1)
    s_Q = np.array([[4.0, 0.0, 2.0], [0.0, 0.0, 3.0]])  # mean over columns j: (2, 1)
    np.testing.assert_allclose(layer_triplet_scores(s_P, np.array([10.0, 20.0]), s_Q), [14.0, 22.0])


def test_namespace_and_is_torch():
    assert namespace(np.zeros(2)) is np and namespace(0.5) is np and not is_torch(np.zeros(2))
    assert namespace(torch.zeros(2)) is torch and is_torch(torch.nn.Linear(2, 2))
    t = as_like(np.arange(3), torch.zeros(1, dtype=torch.float64))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64


def test_smooth_uses_beta1_for_the_ema_and_beta2_for_the_uncertainty():
    # eq. (9) and (10) with beta1 != beta2 (every other check uses 0.85 for both, blind to a swap)
    ema, unc = smooth(np.array([1.0]), np.array([0.5]), np.array([3.0]), beta1=0.9, beta2=0.6)
    np.testing.assert_allclose(ema, [0.9 * 1.0 + 0.1 * 3.0])  # 1.2
    np.testing.assert_allclose(unc, [0.6 * 0.5 + 0.4 * abs(3.0 - 1.2)])  # the updated EMA: 1.02


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_smooth_in_place_is_smooth_bit_for_bit(lib):
    """The allocator's in-place EMAs give exactly `smooth`'s numbers (and tell beta1 from beta2)."""
    rng = np.random.default_rng(3)
    ibar, ubar, i_now = (np.abs(rng.normal(size=50)).astype(np.float32) for _ in range(3))
    if lib == "torch":
        ibar, ubar, i_now = (torch.as_tensor(a) for a in (ibar, ubar, i_now))
    expected = smooth(ibar, ubar, i_now, beta1=0.9, beta2=0.6)
    ibar, ubar = ibar * 1, ubar * 1
    smooth_in_place(ibar, ubar, i_now * 1, i_now * 0, beta1=0.9, beta2=0.6)
    for got, want in zip((ibar, ubar), expected):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
