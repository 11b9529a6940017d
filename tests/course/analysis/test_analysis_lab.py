"""Reading Delta W: spectrum, effective rank, W0-subspace energy, amplification, per-layer report."""
import json

import numpy as np
import pytest
import torch

from adalora_lite import nn as ann
from adalora_lite import reference
from adalora_lite.labs.data_aware_init import pissa_init
from adalora_lite.errors import ConfigError
from adalora_lite.labs.analysis import load_init_results, save_init_results, summarize_runs
from adalora_lite.labs.rank import energy_rank, entropy_effective_rank
from adalora_lite.labs.learned_update import (amplification, analyze_update, compact, module_means,
                                              report_grid, snapshot, subspace_energy, update_report)


def test_effective_rank_and_energy_rank():
    assert entropy_effective_rank([2.0, 2.0, 2.0, 0.0]) == pytest.approx(3.0)
    assert entropy_effective_rank([5.0]) == pytest.approx(1.0)
    assert entropy_effective_rank([0.0, 0.0]) == 0.0
    assert 1.0 < entropy_effective_rank([3.0, 1.0]) < 2.0
    assert energy_rank([3.0, 1.0, 1.0], 0.9) == 2  # 9/11 < 0.9 <= 10/11
    assert energy_rank([1.0, 1.0], 0.5) == 1
    assert energy_rank([0.0], 0.9) == 0


def test_subspace_energy_extremes_and_baseline():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    V, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    W0 = (U[:, :8] * np.arange(8, 0, -1.0)) @ V.T
    inside = np.outer(U[:, 0], V[:, 1])   # in W0's top-2 left and right subspaces
    outside = np.outer(U[:, 5], V[:, 6])
    assert subspace_energy(inside, W0, 2) == pytest.approx(1.0)
    assert subspace_energy(outside, W0, 2) == pytest.approx(0.0, abs=1e-20)
    assert subspace_energy(0.5 * inside + 0.5 * outside, W0, 2) == pytest.approx(0.5)
    # a random matrix lands near the (r/d_out)(r/d_in) baseline on average
    shares = [subspace_energy(rng.standard_normal((10, 8)), W0, 2) for _ in range(400)]
    assert np.mean(shares) == pytest.approx(analyze_update(inside, W0, 2)["random_baseline"], rel=0.2)


def test_amplification_matches_the_definition():
    rng = np.random.default_rng(1)
    W0 = rng.standard_normal((12, 9))
    delta = rng.standard_normal((12, 2)) @ rng.standard_normal((2, 9))
    U, _, Vt = np.linalg.svd(delta)
    expected = np.linalg.norm(delta) / np.linalg.norm(U[:, :2].T @ W0 @ Vt[:2].T)
    assert amplification(delta, W0, 2) == pytest.approx(expected)
    assert amplification(3 * delta, W0, 2) == pytest.approx(3 * expected)  # linear in Delta W


def test_analyze_update_fields_and_shape_check():
    rng = np.random.default_rng(2)
    W0 = rng.standard_normal((6, 5))
    entry = analyze_update(np.outer(rng.standard_normal(6), rng.standard_normal(5)), W0, 3)
    assert entry["r"] == 3 and entry["shape"] == [6, 5] and len(entry["spectrum"]) == 5
    assert entry["effective_rank"] == pytest.approx(1.0, abs=1e-6) and entry["energy_rank_90"] == 1
    with pytest.raises(ConfigError):
        analyze_update(np.zeros((5, 6)), W0, 3)


def bert_like_adapters(rng, seed=0):
    """Two layers x six BERT-named matrices, small, as NumPy LoRA adapters."""
    names = ["attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense", "intermediate.dense", "output.dense"]
    return {f"encoder.layer.{k}.{n}": reference.LoRALinear(rng.standard_normal((6, 5)), None, r=2,
                                                          alpha=4, rng=seed)
            for k in range(2) for n in names}


def test_update_report_measures_the_trained_change_even_after_pissa():
    rng = np.random.default_rng(3)
    adapters = bert_like_adapters(rng)
    W0s = {n: a.weight.copy() for n, a in adapters.items()}
    before = snapshot(adapters)
    for a in adapters.values():
        pissa_init(a)  # moves W0 and the adapter, not the function
    report = update_report(adapters, before)
    assert max(e["delta_norm"] for e in report.values()) < 1e-10  # nothing trained yet
    kicks = {}
    for name, a in adapters.items():
        kicks[name] = rng.standard_normal(a.B.shape) * 0.1
        a.B = a.B + kicks[name]
    report = update_report(adapters, before)
    for name, a in adapters.items():
        expected = a.scale * kicks[name] @ a.A
        assert report[name]["delta_norm"] == pytest.approx(np.linalg.norm(expected))
        np.testing.assert_allclose(before[name], W0s[name])
    grid, labels, layers = report_grid(report, "effective_rank")
    assert grid.shape == (6, 2) and labels[0] == "W_q" and layers == [1, 2]
    assert set(module_means(report, "amplification")) == set(labels)
    small = compact(report)
    assert "spectrum" not in small[next(iter(small))]
    json.dumps(small)
    with pytest.raises(ConfigError):
        report_grid(report, "nope")
    with pytest.raises(ConfigError):
        update_report(adapters, {})


def test_torch_and_numpy_reports_agree():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((7, 5))
    np_layer = reference.LoRALinear(W, None, r=2, alpha=2, rng=0)
    lin = torch.nn.Linear(5, 7, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W))
    t_layer = ann.LoRALinear(lin, r=2, alpha=2)
    b_np, b_t = snapshot({"m": np_layer}), snapshot({"m": t_layer})
    B = rng.standard_normal((7, 2))
    np_layer.B = B
    with torch.no_grad():
        t_layer.A.copy_(torch.tensor(np_layer.A))
        t_layer.B.copy_(torch.tensor(B))
    r_np, r_t = update_report({"m": np_layer}, b_np)["m"], update_report({"m": t_layer}, b_t)["m"]
    for key in ("effective_rank", "w0_subspace_energy", "amplification", "delta_norm"):
        assert r_np[key] == pytest.approx(r_t[key], rel=1e-10)


def fake_runs():
    runs = []
    for init, acc, base in (("standard", 0.8, 0.7), ("pissa", 0.7, 0.9), ("covariance", 0.85, 0.6)):
        for seed in range(3):
            runs.append({"init": init, "seed": seed, "accuracy": acc + 0.01 * seed,
                         "losses": list(np.linspace(base, base - 0.3, 20) + 0.01 * seed),
                         "step0_max_logit_change": 1e-7 if init == "pissa" else 0.0})
    return runs


def test_summarize_save_and_load_results(tmp_path):
    runs = fake_runs()
    rows = summarize_runs(runs, first=5, last=5)
    assert [r["init"] for r in rows] == ["standard", "pissa", "covariance"]
    assert rows[0]["acc_mean"] == pytest.approx(0.81) and rows[0]["acc_std"] == pytest.approx(0.01)
    assert rows[1]["loss_first_mean"] > rows[2]["loss_first_mean"]
    path = tmp_path / "r.json"
    save_init_results(path, runs + [{**runs[0], "model": object()}], {"command": "pytest"})
    meta, loaded = load_init_results(path)
    assert meta["command"] == "pytest" and len(loaded) == 10 and "model" not in loaded[-1]
    with pytest.raises(ConfigError):
        load_init_results(tmp_path / "missing.json")


def test_update_summary_averages_matrices_then_seeds():
    from adalora_lite.labs.analysis import update_summary
    runs = []
    for seed, value in enumerate((1.0, 3.0)):
        report = {f"m{k}": {"r": 4, "effective_rank": value + k, "amplification": 2.0} for k in range(3)}
        runs.append({"init": "pissa", "seed": seed, "report": report})
    (row,) = update_summary(runs, keys=("effective_rank", "amplification"))
    assert row["init"] == "pissa" and row["n"] == 2 and row["r"] == 4
    assert row["effective_rank"] == pytest.approx((3.0, np.sqrt(2.0)))
    assert row["amplification"] == (2.0, 0.0)
