"""adalora_lite.viz.svd: every figure is labelled and draws the run's own numbers."""
import numpy as np
import pytest

from adalora_lite.labs import svd as svd_lab
from adalora_lite.labs.digits import mirrored_digits_task
from adalora_lite.viz import svd as viz


@pytest.fixture(scope="module")
def task():
    return mirrored_digits_task()


@pytest.fixture(scope="module")
def run(task):
    return svd_lab.train_svd(task, gamma=0.0, settings=svd_lab.SVDSettings(total_steps=30))


def _labelled(fig):
    assert fig.layout.title.text
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.title.text


def test_sig_rounds_to_significant_digits():
    np.testing.assert_array_equal(viz.sig([123456.0, 0.000123456, -1.23456, 0.0, np.nan], 3),
                                  [123000.0, 0.000123, -1.23, 0.0, np.nan])


def test_orthogonality_figure(run):
    fig = viz.orthogonality_figure(run)
    _labelled(fig)
    assert len(fig.data) == 4  # P and Q for each of 2 layers
    np.testing.assert_allclose(fig.data[2].y, run.orth_P[:, 1], rtol=1e-3)
    assert "gamma=0" in fig.layout.title.text


def test_singular_values_figure_pairs_sorted_lambdas_with_sigmas(run):
    fig = viz.singular_values_figure(run, step=30)
    _labelled(fig)
    lam, sv = fig.data
    assert len(lam.x) == 16 and lam.x[0] == "layers.0 #1"
    expected = np.sort(np.abs(run.lambdas[-1, :8]))[::-1]
    np.testing.assert_allclose(lam.y[:8], expected, rtol=1e-3)
    np.testing.assert_allclose(sv.y[8:], run.sv[-1, 8:], rtol=1e-3)
    gaps = svd_lab.lambda_sv_gap(run)
    assert f"{gaps['layers.0']:.3f}" in fig.layout.title.text


def test_gamma_summary_figure(task):
    sweep = svd_lab.gamma_sweep(task, gammas=(0.0, 0.3), inits=("orthogonal", "gaussian"),
        settings=svd_lab.SVDSettings(total_steps=30))
    fig = viz.gamma_summary_figure(sweep)
    assert fig.layout.title.text and len(fig.data) == 6
    assert list(fig.data[0].x) == ["0", "0.3"]
    acc = fig.data[2].y  # orthogonal init, test accuracy
    np.testing.assert_allclose(acc, [sweep[("orthogonal", g)].test_accuracy for g in (0.0, 0.3)],
                               rtol=1e-3)
    assert all(ax.title.text for ax in (fig.layout.yaxis, fig.layout.yaxis2, fig.layout.yaxis3))


def test_regrowth_figure(task):
    rg = svd_lab.mask_and_regrow(task, mask_at=10, settings=svd_lab.SVDSettings(total_steps=20))
    fig = viz.regrowth_figure(rg)
    assert fig.layout.title.text and "step 10" in fig.layout.title.text
    assert len(fig.data) == 4
    np.testing.assert_allclose(fig.data[1].y, rg.lora_norm, rtol=1e-3)
    assert any(shape.x0 == 10 for shape in fig.layout.shapes)  # the masking step is marked


def test_revival_figure(task):
    allocation = svd_lab.AllocatorSettings(target_budget=6, warmup_steps=10, final_steps=10)
    run = svd_lab.train_svd(task, allocation=allocation, settings=svd_lab.SVDSettings(total_steps=60))
    event = svd_lab.Revival("layers.0", 1, 20, 25, 30)  # any triplet: the figure just draws it
    fig = viz.revival_figure(run, event)
    assert "masked after step 20" in fig.layout.title.text
    steps = np.asarray(fig.data[0].x)
    assert steps[0] == 1 and steps[-1] == 55  # the window around the event
    np.testing.assert_allclose(fig.data[1].y, run.scores[:55, 1], rtol=1e-3)
    n_masked_stretches = len(viz._masked_stretches(run.masks[:55, 1], steps))
    assert n_masked_stretches >= 1
    assert len(fig.layout.shapes) == 2 * n_masked_stretches  # shaded in both rows


def test_masked_stretches():
    assert viz._masked_stretches([True, False, False, True, False], [1, 2, 3, 4, 5]) == [(2, 3), (5, 5)]


def test_init_figure(task):
    ic = svd_lab.init_comparison(task, settings=svd_lab.SVDSettings(total_steps=10))
    fig = viz.init_figure(ic)
    assert fig.layout.title.text and len(fig.data) == 6
    np.testing.assert_allclose(fig.data[0].y, ic.train_loss["LoRA"], rtol=1e-3)
    assert fig.layout.yaxis.title.text and fig.layout.yaxis2.title.text
    first = viz.init_figure(ic, last_step=4)
    assert list(first.data[0].x) == [1, 2, 3, 4] and len(first.data[5].y) == 4
    np.testing.assert_allclose(first.data[1].y, ic.update_norm["LoRA"][:4], rtol=1e-3)
    assert "first 4 of 10 steps" in first.layout.title.text
