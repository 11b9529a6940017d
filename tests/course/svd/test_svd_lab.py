"""adalora_lite.labs.svd and digits_task: the experiments behind notebook 04 measure what they claim."""
import numpy as np
import pytest

from adalora_lite.labs import svd as svd_lab
from adalora_lite.data import mirror_digits
from adalora_lite.labs.digits import mirrored_digits_task
from adalora_lite.reference import SVDLinear


@pytest.fixture(scope="module")
def task():
    return mirrored_digits_task()


def test_task_is_a_real_domain_shift(task):
    assert task.sizes == (64, 32, 10)
    assert task.source_accuracy > 0.9  # the frozen network knows mirrored digits...
    assert task.start_accuracy < 0.6  # ...and gets only about half of the upright ones
    x = task.X_test[:5]
    np.testing.assert_array_equal(mirror_digits(mirror_digits(x)), x)
    assert not np.array_equal(mirror_digits(x), x)
    assert not task.weights[0].flags.writeable  # frozen means frozen
    a, b = task.batches(3, 16, seed=1), task.batches(3, 16, seed=1)
    assert all(np.array_equal(p, q) and len(set(p)) == 16 for p, q in zip(a, b))


def test_orthogonality_errors_and_true_singular_values():
    rng = np.random.default_rng(0)
    layer = SVDLinear(rng.standard_normal((12, 9)), r=4, alpha=4, rng=0)
    assert max(svd_lab.orthogonality_errors(layer)) < 1e-12
    layer.lam[:] = [0.5, -2.0, 1.0, 0.1]
    # orthonormal P and Q: the singular values of P diag(lam) Q are exactly |lam|, sorted
    np.testing.assert_allclose(svd_lab.true_singular_values(layer), [2.0, 1.0, 0.5, 0.1])
    gaussian = SVDLinear(rng.standard_normal((12, 9)), r=4, alpha=4, init="gaussian", rng=0)
    p_err, q_err = svd_lab.orthogonality_errors(gaussian)
    assert p_err > 1.5 and q_err > 1.5  # 0.02-sized columns: P^T P is nearly 0, not I
    gaussian.lam[:] = [0.5, -2.0, 1.0, 0.1]
    assert svd_lab.true_singular_values(gaussian)[0] < 0.05  # lambda 2 stands for far less


def test_regularizer_keeps_lambdas_singular_values(task):
    free = svd_lab.train_svd(task, gamma=0.0, settings=svd_lab.SVDSettings(total_steps=80))
    held = svd_lab.train_svd(task, gamma=0.3, settings=svd_lab.SVDSettings(total_steps=80))
    assert free.lambdas.shape == (80, 16) and free.sv.shape == (80, 16) and free.orth_P.shape == (80, 2)
    assert held.orth_P[-1].max() < free.orth_P[-1].min()
    assert held.orth_Q[-1].max() < free.orth_Q[-1].min()
    gap_free, gap_held = svd_lab.lambda_sv_gap(free), svd_lab.lambda_sv_gap(held)
    assert max(gap_held.values()) < 0.5 * min(gap_free.values())
    # the recorded singular values really are those of the final P diag(lam) Q
    layer = held.model.layers["layers.1"]
    np.testing.assert_allclose(held.sv[-1, held.slices()["layers.1"]],
                               np.linalg.svd((layer.P * layer.lam) @ layer.Q, compute_uv=False)[:8])
    assert np.all(free.budgets == 16) and free.scores is None  # no allocator: the initial rank
    assert list(free.steps) == list(range(1, 81)) and free.meta["gamma"] == 0.0
    assert free.ranks == (8, 8) and np.all(free.masks) and not np.isnan(free.losses).any()


def test_gamma_sweep_is_cached(task):
    a = svd_lab.gamma_sweep(task, gammas=(0.0, 0.1), inits=("orthogonal",),
        settings=svd_lab.SVDSettings(total_steps=20))
    b = svd_lab.gamma_sweep(task, gammas=(0.0, 0.1), inits=("orthogonal",),
        settings=svd_lab.SVDSettings(total_steps=20))
    assert a is b and set(a) == {("orthogonal", 0.0), ("orthogonal", 0.1)}


def test_masked_triplet_regrows_but_pruned_doublet_is_dead(task):
    rg = svd_lab.mask_and_regrow(task, mask_at=40, settings=svd_lab.SVDSettings(total_steps=90))
    after = slice(rg.mask_at, None)  # steps mask_at + 1 ...
    assert rg.svd_lam[rg.mask_at - 1] == 0.0 and rg.lam_at_mask != 0.0
    assert np.all(np.abs(rg.svd_lam_grad[after]) > 0)  # a masked lambda still gets a gradient
    assert abs(rg.lam_end) > 0.2 * abs(rg.lam_at_mask)  # and grows back
    assert rg.lora_norm_at_mask > 0
    assert np.all(rg.lora_norm[rg.mask_at - 1:] == 0.0)  # a pruned doublet stays exactly zero
    assert np.all(rg.lora_grad[after] == 0.0)  # because its gradient is exactly zero


def _fake_run(mask):
    mask = np.array(mask, dtype=bool).T  # given per triplet, stored per step
    n, k = mask.shape
    return svd_lab.SVDRun(layer_names=("a", "b"), ranks=(k // 2, k // 2), steps=np.arange(1, n + 1),
                          losses=np.zeros(n), lambdas=np.zeros((n, k)), masks=mask,
                          budgets=mask.sum(axis=1),
                          orth_P=np.zeros((n, 2)), orth_Q=np.zeros((n, 2)), sv=np.zeros((n, k)),
                          test_accuracy=0.0)


def test_find_revivals():
    run = _fake_run([[1, 1, 0, 0, 1, 1, 0],   # a #0: off at 3, back at 5 (kept through 6)
                     [1, 0, 0, 0, 0, 0, 0],   # a #1: never back
                     [1, 1, 1, 1, 1, 1, 1],   # b #0: never masked
                     [0, 1, 0, 1, 1, 1, 1]])  # b #1: twice
    events = svd_lab.find_revivals(run)
    assert events == [svd_lab.Revival("b", 1, 1, 2, 2), svd_lab.Revival("b", 1, 3, 4, 7),
                      svd_lab.Revival("a", 0, 3, 5, 6)]
    assert events[1].kept_steps == 4
    study = {0: (run, events), 1: (run, [])}
    assert svd_lab.longest_revival(study) == (0, run, events[1])
    assert svd_lab.longest_revival({0: (run, [])}) is None


def test_allocator_run_records_budget_scores_and_threshold(task):
    allocation = svd_lab.AllocatorSettings(target_budget=6, warmup_steps=10, final_steps=10)
    run = svd_lab.train_svd(task, allocation=allocation, settings=svd_lab.SVDSettings(total_steps=60))
    assert run.budgets[0] == 16 and run.budgets[-1] == 6
    assert np.all(run.masks.sum(axis=1) == run.budgets)
    assert np.all(run.lambdas[~run.masks] == 0)  # masked lambdas are zero after every step
    assert run.meta["allocation"]["target_budget"] == 6 and run.meta["total_steps"] == 60
    step = 30
    kept = run.masks[step - 1]
    assert np.all(run.scores[step - 1][kept] >= run.threshold(step))


def test_init_comparison_measures_the_slow_gaussian_start(task):
    ic = svd_lab.init_comparison(task, settings=svd_lab.SVDSettings(total_steps=40))
    assert set(ic.train_loss) == {label for label, _, _ in svd_lab.INIT_VARIANTS}
    # PEFT's N(0, 0.02) P and Q: lambda's first gradient is far smaller than with orthonormal P, Q
    assert ic.first_lam_grad["gaussian"] < 0.05 * ic.first_lam_grad["orthogonal"]
    # with lambda = 0 and orthonormal P, Q nothing pushes P or Q on step 1 (not even R)
    assert ic.first_pq_grad["orthogonal"] < 1e-12 < ic.first_pq_grad["gaussian"]
    gauss, orth = "SVD, Gaussian init (PEFT)", "SVD, orthogonal init"
    assert ic.update_norm[gauss][-1] < 0.2 * ic.update_norm[orth][-1]
    assert ic.train_loss[gauss][-1] > ic.train_loss[orth][-1]


def test_param_counts():
    assert svd_lab.param_counts(32, 64, 8) == {"LoRA": 768, "SVD": 776}


def test_mask_interval_study_lets_masked_lambdas_regrow_between_maskings(task):
    study = svd_lab.mask_interval_study(task, intervals=(1, 10), seeds=range(2))
    every, sparse = study[1], study[10]
    assert every.masking_steps == 200 and sparse.masking_steps == 20  # steps 51..250
    assert every.largest_masked_lam == (0.0, 0.0)  # zeroed again after every step
    assert all(lam > 0 for lam in sparse.largest_masked_lam)  # trained between maskings
    assert all(lam < sparse.median_kept_lam for lam in sparse.largest_masked_lam)
    assert 0 < sparse.mean_accuracy <= 1
