"""adalora_lite.labs.rank: Eckart-Young, effective ranks and the break-even rank."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from adalora_lite.counting import parameter_count
from adalora_lite.errors import ConfigError
from adalora_lite.labs.rank import (LowRankApprox, best_rank_r, breakeven_rank, energy_rank,
                                  entropy_effective_rank, numerical_rank, random_like, random_rank_r_error,
                                  relative_tail_error, singular_values, stable_rank, tail_error)


@st.composite
def matrices(draw):
    d, k = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).standard_normal((d, k))


@settings(max_examples=60, deadline=None)
@given(matrices(), st.data())
def test_error_of_best_rank_r_is_the_tail_of_the_spectrum(W, data):
    r = data.draw(st.integers(0, min(W.shape)))
    approx = LowRankApprox(W)
    s = singular_values(W)
    assert approx.error(r) == pytest.approx(tail_error(s, r), abs=1e-9)
    assert approx.error(r, norm=2) == pytest.approx(tail_error(s, r, norm=2), abs=1e-9)
    assert approx.relative_error(r) == pytest.approx(relative_tail_error(s, r), abs=1e-9)
    assert np.linalg.matrix_rank(approx.approx(r)) == min(r, np.linalg.matrix_rank(W))


@settings(max_examples=40, deadline=None)
@given(matrices(), st.integers(0, 2**31 - 1), st.data())
def test_best_rank_r_beats_any_random_rank_r_projection(W, seed, data):
    r = data.draw(st.integers(0, min(W.shape)))
    assert tail_error(singular_values(W), r) <= random_rank_r_error(W, r, rng=seed) + 1e-9


def test_exact_low_rank_matrix_is_recovered_at_its_rank():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 20))
    s = singular_values(W)
    assert numerical_rank(s) == 3
    np.testing.assert_allclose(best_rank_r(W, 3), W, atol=1e-10)
    assert tail_error(s, 2) > 0.1
    B, A = LowRankApprox(W).factors(3)
    assert B.shape == (30, 3) and A.shape == (3, 20)


def test_tail_error_by_hand():
    s = [5.0, 3.0, 2.0, 1.0]
    assert tail_error(s, 2) == pytest.approx(np.sqrt(5))
    assert tail_error(s, 2, norm=2) == 2.0
    assert tail_error(s, 4) == 0.0 and tail_error(s, 4, norm=2) == 0.0
    assert tail_error(s, 0) == pytest.approx(np.sqrt(39))
    assert relative_tail_error(s, 0) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [[1.0, 2.0], [[1.0]], [3.0, -1.0]])
def test_spectrum_must_be_sorted_non_negative_1d(bad):
    with pytest.raises(ConfigError, match="sigma"):
        tail_error(bad, 0)


@pytest.mark.parametrize("r", [-1, 5, 1.5])
def test_rank_out_of_range_is_an_error(r):
    with pytest.raises(ConfigError, match="r must be"):
        tail_error([3.0, 2.0, 1.0, 0.5], r)


def test_effective_ranks_on_known_spectra():
    flat = np.ones(10)
    assert entropy_effective_rank(flat) == pytest.approx(10)
    assert stable_rank(flat) == pytest.approx(10)
    spike = np.array([1.0, 0, 0, 0])
    assert entropy_effective_rank(spike) == pytest.approx(1)
    assert stable_rank(spike) == pytest.approx(1)
    assert energy_rank(spike, 0.99) == 1
    decaying = 0.5 ** np.arange(10)
    assert 1 < entropy_effective_rank(decaying) < 10
    assert stable_rank(decaying) == pytest.approx(np.sum(decaying ** 2))
    assert energy_rank(np.array([3.0, 1.0]), 0.9) == 1  # 9/10 of the energy
    assert energy_rank(np.array([3.0, 1.0]), 0.91) == 2
    assert energy_rank(np.array([3.0, 1.0]), 1.0) == 2


@settings(max_examples=40, deadline=None)
@given(matrices())
def test_effective_ranks_lie_between_one_and_the_rank(W):
    s = singular_values(W)
    rank = numerical_rank(s)
    for erank in (entropy_effective_rank(s), stable_rank(s)):
        assert 1 - 1e-9 <= erank <= rank + 1e-9
    assert 1 <= energy_rank(s, 0.9) <= rank


def test_breakeven_rank_is_where_the_factors_stop_saving():
    assert breakeven_rank(384, 1536) == 307  # 384*1536/1920 = 307.2
    assert breakeven_rank(4, 4) == 1  # 8 r < 16: r = 1 saves, r = 2 ties
    assert breakeven_rank(2, 2) == 0  # (2 + 2) r < 4 has no positive solution
    for d, k in [(3, 7), (384, 384), (1, 5), (100, 101)]:
        r = breakeven_rank(d, k)
        assert parameter_count(d, k, r) < parameter_count(d, k, kind="full")
        assert parameter_count(d, k, r + 1) >= parameter_count(d, k, kind="full")


def test_random_like_matches_shape_mean_and_std():
    W = np.random.default_rng(1).normal(0.3, 2.0, size=(200, 300))
    R = random_like(W, rng=0)
    assert R.shape == W.shape
    assert R.mean() == pytest.approx(W.mean(), abs=0.05)
    assert R.std() == pytest.approx(W.std(), rel=0.02)
    np.testing.assert_array_equal(R, random_like(W, rng=0))
