"""Notebook 08's checkers: right answers, typical wrong answers, placeholders."""
import numpy as np

from adalora_lite.exercises.analysis import check_amplification, check_energy_rank, check_pissa_b_norm
from adalora_lite.labs.learned_update import amplification


def test_check_energy_rank():
    s = [3.0, 1.0, 1.0]
    assert not check_energy_rank(s, None) and "Not answered" in repr(check_energy_rank(s, None))
    assert check_energy_rank(s, 2)
    assert not check_energy_rank(s, 1) and "81.82%" in repr(check_energy_rank(s, 1))
    assert not check_energy_rank(s, "two")
    assert "squared" in repr(check_energy_rank([4.0, 1.0, 1.0, 1.0, 1.0], 5))  # plain-values trap
    assert not check_energy_rank(s, 7)


def test_check_pissa_b_norm():
    s, r, scale = [4.0, 2.0, 1.0, 0.5], 2, 2.0
    assert check_pissa_b_norm(s, r, scale, 3.0)
    assert not check_pissa_b_norm(s, r, scale, None)
    assert "sigma_i^2" in repr(check_pissa_b_norm(s, r, scale, 10.0))
    assert "scale" in repr(check_pissa_b_norm(s, r, scale, 6.0))
    assert "not its square" in repr(check_pissa_b_norm(s, r, scale, 3.0 ** 0.5))
    assert not check_pissa_b_norm(s, r, scale, 99)
    assert not check_pissa_b_norm(s, r, scale, [1])


def test_check_amplification():
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((8, 6))
    delta = rng.standard_normal((8, 2)) @ rng.standard_normal((2, 6))
    a = amplification(delta, W0, 2)
    assert check_amplification(delta, W0, 2, a)
    assert not check_amplification(delta, W0, 2, None)
    assert "upside down" in repr(check_amplification(delta, W0, 2, 1 / a))
    U0, _, V0t = np.linalg.svd(W0)
    swapped = np.linalg.norm(delta) / np.linalg.norm(U0[:, :2].T @ W0 @ V0t[:2].T)
    assert "W0's own singular vectors" in repr(check_amplification(delta, W0, 2, swapped))
    assert not check_amplification(delta, W0, 2, 123456.0)
    assert not check_amplification(delta, W0, 2, "x")
