"""The allocator's score choices (the paper's Table 4 ablations) and LoRA doublet pruning ("Prune LoRA")."""
import numpy as np
import pytest
import torch
from torch import nn

from adalora_lite import ConfigError, RankAllocator, layer_triplet_scores, sensitivity, smooth
from adalora_lite.allocator import SCORES
from adalora_lite.nn import PrunableLoRALinear, add_adapters, load_adapters, save_adapters
from adalora_lite.reference import train_step
from test_allocator import SCHEDULE, batch, run, tiny_model


def hand_scores(model, steps, entry):
    """Run `steps` reference steps and return the EMAs' entry score `entry(ibar, ubar)` per layer."""
    x, y = batch()
    ibar_ubar = {}
    for t in range(1, steps + 1):
        train_step(model, x, y, lr=0.3)
        for lname, layer in model.layers.items():
            for pname, w in layer.params().items():
                prev = ibar_ubar.get((lname, pname), (0 * w, 0 * w))
                ibar_ubar[(lname, pname)] = smooth(*prev, sensitivity(w, layer.grads[pname]), beta1=0.85, beta2=0.85)
    return {lname: layer_triplet_scores(*(entry(*ibar_ubar[(lname, p)]) for p in ("P", "lam", "Q")))
            for lname in model.layers}


def test_sensitivity_score_is_eq7_with_ibar_alone():
    expected = hand_scores(tiny_model(), 3, lambda ibar, ubar: ibar)
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, score="sensitivity", **SCHEDULE)
    x, y = batch()
    for t in (1, 2, 3):
        train_step(model, x, y, lr=0.3, allocator=alloc, step=t)
    for name, scores in alloc.layer_scores().items():
        np.testing.assert_allclose(scores, expected[name], rtol=1e-12)


def test_magnitude_score_is_abs_lambda_and_masks_the_smallest():
    model = tiny_model()
    alloc = RankAllocator(model.layers, target_budget=5, score="magnitude", **SCHEDULE)
    run(model, alloc, 6)  # warm-up over: the first masking has happened
    lams = np.concatenate([layer.lam for layer in model.layers.values()])
    np.testing.assert_array_equal(alloc.triplet_scores(), np.abs(lams))
    kept = np.concatenate([layer.mask for layer in model.layers.values()])
    assert kept.sum() == alloc.budget < 12
    assert np.abs(lams[kept]).min() >= np.abs(lams[~kept]).max()  # masked lambdas are zero now


def test_random_score_is_seeded_and_its_masks_are_nested():
    def masks(seed):
        model = tiny_model()
        alloc = RankAllocator(model.layers, target_budget=3, score="random", seed=seed, **SCHEDULE)
        run(model, alloc, 40)
        return alloc, model

    a, model_a = masks(0)
    b, _ = masks(0)
    c, _ = masks(1)
    assert a.rank_pattern() == b.rank_pattern() and sum(a.ranks().values()) == 3
    np.testing.assert_array_equal(a.triplet_scores(), b.triplet_scores())
    assert not np.array_equal(a.triplet_scores(), c.triplet_scores())
    # the survivors are the 3 highest random draws, whatever the training did
    kept = np.concatenate([layer.mask for layer in model_a.layers.values()])
    assert set(np.flatnonzero(kept)) == set(np.argsort(-a.triplet_scores())[:3])


def test_importance_is_the_default_and_bad_scores_are_named():
    model = tiny_model()
    assert RankAllocator(model.layers, target_budget=5, **SCHEDULE).score == SCORES[0] == "importance"
    with pytest.raises(ConfigError, match="score"):
        RankAllocator(model.layers, target_budget=5, score="fisher", **SCHEDULE)


# ------------------------------------------------------------------------------- Prune LoRA
def toy():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(), nn.Linear(20, 3))


def doublet_run(steps=30, total_steps=30):
    model = toy()
    adapters = add_adapters(model, ["0", "2"], adapter="prunable_lora", r=4, alpha=8, modules_to_train="4")
    alloc = RankAllocator(adapters, target_budget=3, total_steps=total_steps, warmup_steps=3,
                          final_steps=8, mask_interval=2)
    torch.manual_seed(1)
    x, y = torch.randn(32, 10), torch.randint(0, 3, (32,))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for t in range(1, steps + 1):
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        alloc.update(t)
        opt.zero_grad()
    return model, adapters, alloc, x


def test_doublet_scores_are_eq7_without_lambda():
    """S_i = mean_j s(B_ji) + mean_j s(A_ij) for a LoRA doublet, from the flat fast path."""
    _, adapters, alloc, _ = doublet_run(steps=2)
    offset, flat = 0, alloc.tracker.ibar * alloc.tracker.ubar
    for name, a in adapters.items():
        n_b, n_a = a.B.numel(), a.A.numel()
        s_b = flat[offset:offset + n_b].reshape(a.B.shape)
        s_a = flat[offset + n_b:offset + n_b + n_a].reshape(a.A.shape)
        torch.testing.assert_close(alloc.layer_scores()[name], s_b.mean(0) + s_a.mean(1))
        offset += n_b + n_a


def test_pruned_doublets_leave_the_output_and_the_budget_holds():
    model, adapters, alloc, x = doublet_run()
    assert sum(alloc.ranks().values()) == 3
    for a in adapters.values():
        dense = a.scale * a.B[:, a.mask] @ a.A[a.mask]  # only the kept doublets
        torch.testing.assert_close(a.delta_weight(), dense)
        with torch.no_grad():
            torch.testing.assert_close(a(x_ := torch.randn(5, a.d_in)), a.base(x_) + x_ @ dense.T)


def test_prunable_lora_round_trips_through_save_and_load(tmp_path):
    model, adapters, alloc, x = doublet_run()
    save_adapters(tmp_path / "p.safetensors", model, alloc)
    fresh = toy()
    load_adapters(tmp_path / "p.safetensors", fresh)
    assert all(isinstance(a, PrunableLoRALinear) for a in [fresh[0], fresh[2]])
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


def test_magnitude_needs_lambdas():
    _, adapters, _, _ = doublet_run(steps=2)
    with pytest.raises(ConfigError, match="magnitude"):
        RankAllocator(adapters, target_budget=3, score="magnitude", total_steps=10, warmup_steps=1,
                      final_steps=2)
