"""adalora_lite.labs.importance: the replayed scores are the library's, and the measures measure."""
import numpy as np
import pytest

from adalora_lite import RankAllocator
from adalora_lite.labs import importance as lab
from adalora_lite.labs.digits import mirrored_digits_task
from adalora_lite.reference import MLP, train_step


@pytest.fixture(scope="module")
def task():
    return mirrored_digits_task()


@pytest.fixture(scope="module")
def run(task):
    return lab.record_scores(task, steps=40)


def test_record_shapes(run):
    assert run.layer_names == ("layers.0", "layers.1")
    assert run.shapes == ((32, 8, 64), (10, 8, 32))
    n_entries = 32 * 8 + 8 + 8 * 64 + 10 * 8 + 8 + 8 * 32
    assert run.sensitivity.shape == (40, n_entries) and run.lambdas.shape == (40, 16)
    assert run.triplet_labels()[8] == "layers.1 #0"
    assert np.all(run.model.layers["layers.0"].mask)  # budget = all: nothing was masked


def test_replayed_smoothing_is_exactly_the_allocators(run):
    np.testing.assert_allclose(lab.smoothed_scores(run, run.beta1, run.beta2), run.live_scores,
                               rtol=1e-12, atol=0)
    np.testing.assert_allclose(run.live_scores[-1], run.tracker.triplet_scores(), rtol=1e-12)
    other = lab.smoothed_scores(run, 0.5, 0.95)
    assert not np.allclose(other, run.live_scores)


def test_replay_with_other_betas_matches_a_live_allocator_with_them(task):
    """The replay is not a copy of one run: a fresh allocator with other betas agrees too."""
    run = lab.record_scores(task, steps=15, beta1=0.6, beta2=0.9)
    model = MLP(task.weights, task.biases, adapter="svd", r=8, alpha=8.0, rng=0)
    alloc = RankAllocator(model.layers, target_budget=16, total_steps=16, warmup_steps=0,
                          final_steps=0, beta1=0.6, beta2=0.9)
    for step, idx in enumerate(task.batches(15, 32, 0), start=1):
        train_step(model, task.X_train[idx], task.y_train[idx], lr=0.2, gamma=0.1,
                   allocator=alloc, step=step)
    np.testing.assert_allclose(lab.smoothed_scores(run, 0.6, 0.9)[-1], alloc.triplet_scores(),
                               rtol=1e-10)


def test_lambda_and_sensitivity_scores(run):
    np.testing.assert_array_equal(lab.lambda_scores(run), np.abs(run.lambdas))
    raw = lab.sensitivity_scores(run)
    # the lambda entries alone: s(lambda_i) = |lambda_i * grad_i| is a lower bound of S_i
    layer = run.model.layers["layers.1"]
    lam_sens = np.abs(layer.lam * layer.grads["lam"])
    assert np.all(raw[-1, 8:] >= lam_sens - 1e-15)
    np.testing.assert_allclose(raw[-1, 8:] - lam_sens,
                               np.abs(layer.P * layer.grads["P"]).mean(axis=0)
                               + np.abs(layer.Q * layer.grads["Q"]).mean(axis=1), rtol=1e-10)
    assert set(lab.all_scores(run)) == set(lab.SCORE_NAMES)


def test_ranking_stability():
    scores = np.array([[1.0, 2.0, 3.0], [1.1, 2.2, 3.3], [3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    rho = lab.ranking_stability(scores)
    np.testing.assert_allclose(rho[:2], [1.0, -1.0])
    assert np.isnan(rho[2])  # all tied: no ranking to compare
    from scipy.stats import spearmanr
    rng = np.random.default_rng(0)
    noisy = rng.random((5, 12))
    np.testing.assert_allclose(lab.ranking_stability(noisy),
                               [spearmanr(noisy[t - 1], noisy[t]).statistic for t in range(1, 5)])


def test_topb_turnover():
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [3.0, 0.0, 2.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(lab.topb_turnover(scores, 2), [1, 1])
    np.testing.assert_array_equal(lab.topb_turnover(scores, 4), [0, 0])


def test_smoothing_makes_the_ranking_steadier(run):
    scores = lab.all_scores(run)
    rho = {name: np.nanmean(lab.ranking_stability(s)[10:]) for name, s in scores.items()}
    assert rho["smoothed Ī·Ū"] > rho["sensitivity I"] + 0.05
    table = lab.stability_table(run, (0.5, 0.95), (0.5, 0.95), skip=10)
    assert table.shape == (2, 2) and table[1, 1] > table[0, 0]


def test_score_terms_add_up_to_the_allocators_scores(run):
    terms = lab.score_terms(run.tracker)
    assert list(terms) == ["layers.0", "layers.1"]
    for name, t in terms.items():
        np.testing.assert_allclose(t["sum"], t["S"], rtol=1e-12)
        np.testing.assert_allclose(t["s_lam"], t["Ibar_lam"] * t["Ubar_lam"], rtol=1e-12)
        assert t["s_lam"].shape == t["mean_s_P"].shape == t["mean_s_Q"].shape == (8,)


def test_masking_loss_increase_restores_the_model(task, run):
    before = task.loss(run.model)
    lam_before = {n: layer.lam.copy() for n, layer in run.model.layers.items()}
    truth = lab.masking_loss_increase(run.model, task)
    assert truth.shape == (16,)
    assert task.loss(run.model) == before
    for n, layer in run.model.layers.items():
        np.testing.assert_array_equal(layer.lam, lam_before[n])
    # by hand, for one triplet
    layer = run.model.layers["layers.1"]
    kept = layer.lam[3]
    layer.lam[3] = 0.0
    masked = task.loss(run.model)
    layer.lam[3] = kept
    assert truth[8 + 3] == pytest.approx(masked - before, rel=1e-9)
    pred = lab.predictiveness(run, task)
    assert list(pred) == list(lab.ABLATION_NAMES) and all(-1 <= v <= 1 for v in pred.values())


def test_ema_alone_arm(run):
    """The ablation's fourth arm: s = Ibar alone. With beta1 = 0 the EMA is the raw sensitivity."""
    np.testing.assert_allclose(lab.ema_scores(run, 0.0), lab.sensitivity_scores(run), rtol=1e-12)
    ema = lab.ema_scores(run, 0.85)
    assert ema.shape == lab.sensitivity_scores(run).shape
    # by hand at step 2: Ibar = 0.85 * 0.15 * I1 + 0.15 * I2, aggregated per triplet
    ibar = 0.85 * 0.15 * run.sensitivity[0] + 0.15 * run.sensitivity[1]
    from adalora_lite.scoring import triplet_scores
    np.testing.assert_allclose(ema[1], triplet_scores(ibar, run.triplet_of, run.weight_of,
                                                      run.n_triplets), rtol=1e-12)
    arms = lab.ablation_scores(run)
    assert list(arms) == list(lab.ABLATION_NAMES)
    np.testing.assert_array_equal(arms[lab.EMA_NAME], ema)
    np.testing.assert_array_equal(arms["smoothed Ī·Ū"], lab.smoothed_scores(run))
