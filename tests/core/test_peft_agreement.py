"""Agreement with Hugging Face PEFT's AdaLoRA (the `peft` package, a test dependency).

With identical adapter weights and gradients, our importance EMAs, uncertainties, triplet scores,
budget and masks must equal PEFT's, step after step, through all three phases of the schedule.
PEFT is only *called* here (its RankAllocator and AdaLoraModel), never copied.

Our P (d_out, r), lam (r,), Q (r, d_in) are PEFT's lora_B (d_out, r), lora_E (r, 1), lora_A (r, d_in).

The places where we deliberately differ are tested too (see benchmarks/README.md, "Deliberate
differences from PEFT"): alpha/r vs alpha/(r + 1e-5), squared vs unsquared regularizer, exactly b
survivors on ties, orthogonal vs Gaussian init, and a warning instead of a crash for a layer
without gradient.
"""
import copy
import warnings

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from peft import AdaLoraConfig, get_peft_model  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, BertModel  # noqa: E402

from adalora_lite import RankAllocator, top_b_mask  # noqa: E402
from adalora_lite.nn import add_adapters, orthogonality_loss  # noqa: E402

TARGETS = ["query", "key", "value", "output.dense", "intermediate.dense"]
R, TARGET_R, ALPHA = 4, 2, 8.0
SCHEDULE = dict(total_step=30, tinit=4, tfinal=6, deltaT=3)
BETAS = dict(beta1=0.85, beta2=0.85)


def tiny_config(**kw):
    settings = dict(vocab_size=60, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=32, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)
    return BertConfig(**{**settings, **kw})


def peft_config(**kw):
    settings = dict(init_r=R, target_r=TARGET_R, lora_alpha=ALPHA, target_modules=TARGETS,
                    orth_reg_weight=0.0, lora_dropout=0.0, **SCHEDULE, **BETAS)
    settings.update(kw)
    return AdaLoraConfig(**settings)


def our_allocator(adapters):
    return RankAllocator(adapters, target_budget=TARGET_R * len(adapters),
                         total_steps=SCHEDULE["total_step"], warmup_steps=SCHEDULE["tinit"],
                         final_steps=SCHEDULE["tfinal"], mask_interval=SCHEDULE["deltaT"], **BETAS)


def peft_params(peft_model, name):
    """PEFT's (lora_B, lora_E, lora_A) of the module our adapter calls `name`."""
    module = peft_model.base_model.model.get_submodule(name)
    return module.lora_B["default"], module.lora_E["default"], module.lora_A["default"]


def peft_key(name, kind):
    return f"{name}.{kind}.default"  # names inside AdaLoraModel.model, as its RankAllocator sees them


def make_pair(model_cls=BertModel, seed=0, peft_kw=None):
    """The same tiny float64 BERT twice: one with our SVDLinear adapters, one PEFT AdaLoRA."""
    torch.manual_seed(seed)
    base = model_cls(tiny_config()).double()
    ours = copy.deepcopy(base)
    adapters = add_adapters(ours, TARGETS, adapter="svd", r=R, alpha=ALPHA)
    theirs = get_peft_model(copy.deepcopy(base), peft_config(**(peft_kw or {})))
    copy_weights(adapters, theirs)
    return ours, adapters, theirs


@torch.no_grad()
def copy_weights(adapters, peft_model):
    for name, a in adapters.items():
        B, E, A = peft_params(peft_model, name)
        B.copy_(a.P)
        E.copy_(a.lam[:, None])
        A.copy_(a.Q)


def peft_ema(peft_model, name):
    """PEFT's (exp_avg_ipt, exp_avg_unc) for one layer, flattened in our order: P, lam, Q."""
    alloc = peft_model.base_model.rankallocator
    keys = [peft_key(name, k) for k in ("lora_B", "lora_E", "lora_A")]
    return (torch.cat([alloc.exp_avg_ipt[k].reshape(-1) for k in keys]),
            torch.cat([alloc.exp_avg_unc[k].reshape(-1) for k in keys]))


def peft_triplet_scores(peft_model, name):
    """S_i as PEFT's mask_to_budget forms it, with PEFT's own scoring methods."""
    alloc = peft_model.base_model.rankallocator
    s_A = alloc._element_score(peft_key(name, "lora_A")).mean(dim=1, keepdim=True)  # (r, 1)
    s_B = alloc._element_score(peft_key(name, "lora_B")).mean(dim=0).view(-1, 1)  # (r, 1)
    s_E = alloc._element_score(peft_key(name, "lora_E"))
    return alloc._combine_ipt(s_E, torch.cat([s_A, s_B], dim=1))


def our_flat_slices(adapters):
    out, offset = {}, 0
    for name, a in adapters.items():
        n = a.d_out * a.r + a.r + a.r * a.d_in
        out[name], offset = slice(offset, offset + n), offset + n
    return out


def peft_mask(peft_model, name):
    return (peft_params(peft_model, name)[1].reshape(-1) != 0)


# --------------------------------------------------------------------- controlled weights and grads
def test_same_weights_and_gradients_give_peft_scores_budget_and_masks_at_every_step():
    """Feed both allocators identical weights and gradients (a random walk standing in for the
    optimizer); compare everything, all steps 1..T: warm-up, shrinking budget, final phase."""
    ours, adapters, theirs = make_pair()
    alloc = our_allocator(adapters)
    peft_alloc = theirs.base_model.rankallocator
    slices = our_flat_slices(adapters)
    gen = torch.Generator().manual_seed(1)
    layer_scale = {name: 10.0 ** torch.empty(1).uniform_(-1, 1, generator=gen).item() for name in adapters}
    checked = {"ema": 0, "patterns": 0, "final": 0}
    for step in range(1, SCHEDULE["total_step"] + 1):
        with torch.no_grad():
            for name, a in adapters.items():  # the "optimizer step": move every entry a little
                for w in (a.P, a.lam, a.Q):
                    w += 0.05 * torch.randn(w.shape, generator=gen, dtype=w.dtype)
                    w.grad = layer_scale[name] * torch.randn(w.shape, generator=gen, dtype=w.dtype)
            copy_weights(adapters, theirs)
            for name, a in adapters.items():
                B, E, A = peft_params(theirs, name)
                B.grad, E.grad, A.grad = a.P.grad.clone(), a.lam.grad[:, None].clone(), a.Q.grad.clone()

        budget_before = peft_alloc.budget_schedule(step)[0]
        alloc.update(step)
        theirs.base_model.update_and_allocate(step)

        assert alloc.budget == budget_before, f"step {step}: budget"
        final_start = SCHEDULE["total_step"] - SCHEDULE["tfinal"]
        if step < final_start:  # PEFT resets its EMAs once the final phase starts
            for name in adapters:
                ema, unc = peft_ema(theirs, name)
                assert torch.equal(alloc.tracker.ibar[slices[name]], ema), f"step {step} {name}: EMA"
                assert torch.equal(alloc.tracker.ubar[slices[name]], unc), f"step {step} {name}: uncertainty"
                torch.testing.assert_close(alloc.layer_scores()[name], peft_triplet_scores(theirs, name),
                                           rtol=1e-12, atol=0)
            checked["ema"] += 1
        for name, a in adapters.items():  # masks and the masked weights themselves
            assert torch.equal(a.lam != 0, peft_mask(theirs, name)), f"step {step} {name}: mask"
            assert torch.equal(a.lam, peft_params(theirs, name)[1].reshape(-1))
        if step > SCHEDULE["tinit"]:
            pattern = theirs.peft_config["default"].rank_pattern
            if pattern is not None:
                ours_pattern = {peft_key(n, "lora_E"): v for n, v in alloc.rank_pattern().items()}
                assert pattern == ours_pattern, f"step {step}: rank_pattern"
                checked["patterns"] += 1
        checked["final"] += step >= final_start
    assert sum(alloc.ranks().values()) == TARGET_R * len(adapters)
    assert len(set(alloc.ranks().values())) > 1  # the budget really was spread unevenly
    first_mask = next(t for t in range(SCHEDULE["tinit"] + 1, final_start + 1) if t % SCHEDULE["deltaT"] == 0)
    assert checked == {"ema": final_start - 1, "patterns": SCHEDULE["total_step"] - first_mask + 1,
                       "final": SCHEDULE["tfinal"] + 1}


# --------------------------------------------------------------------- end to end, real gradients
def test_training_a_tiny_bert_side_by_side_gives_peft_masks_and_scores():
    """Both models trained with SGD on the same batches. Forward passes are made identical by
    giving PEFT the scale alpha*(r+1e-5)/r (PEFT divides by r + 1e-5, we by r); then losses,
    EMAs and masks must agree at every step up to float64 rounding."""
    ours, adapters, theirs = make_pair(BertForSequenceClassification)
    for name in adapters:
        theirs.base_model.model.get_submodule(name).scaling["default"] = ALPHA * (R + 1e-5) / R
    alloc = our_allocator(adapters)
    lora = [p for n, p in theirs.named_parameters() if "lora_" in n]
    # (PEFT 0.21 leaves `ranknum` with requires_grad=True; it must not be trained, so it stays out.)
    opt_ours = torch.optim.SGD([p for a in adapters.values() for p in (a.P, a.lam, a.Q)], lr=0.5)
    opt_theirs = torch.optim.SGD(lora, lr=0.5)
    slices = our_flat_slices(adapters)
    gen = torch.Generator().manual_seed(3)
    final_start = SCHEDULE["total_step"] - SCHEDULE["tfinal"]
    for step in range(1, SCHEDULE["total_step"] + 1):
        x = torch.randint(0, 60, (8, 10), generator=gen)
        y = torch.randint(0, 2, (8,), generator=gen)
        loss_ours = ours(input_ids=x, labels=y).loss
        loss_theirs = theirs(input_ids=x, labels=y).loss
        torch.testing.assert_close(loss_ours, loss_theirs, rtol=1e-10, atol=0)
        loss_ours.backward()
        loss_theirs.backward()
        opt_ours.step()
        opt_theirs.step()
        alloc.update(step)
        theirs.base_model.update_and_allocate(step)
        for name, a in adapters.items():
            assert torch.equal(a.lam != 0, peft_mask(theirs, name)), f"step {step} {name}: mask"
            if step < final_start:
                ema, unc = peft_ema(theirs, name)
                torch.testing.assert_close(alloc.tracker.ibar[slices[name]], ema, rtol=1e-8, atol=1e-300)
                torch.testing.assert_close(alloc.tracker.ubar[slices[name]], unc, rtol=1e-8, atol=1e-300)
        opt_ours.zero_grad()
        opt_theirs.zero_grad()
    assert sum(alloc.ranks().values()) == TARGET_R * len(adapters)


def test_budget_schedule_equals_peft_for_many_schedules():
    ours, adapters, theirs = make_pair()
    peft_alloc = theirs.base_model.rankallocator
    for total, tinit, tfinal, delta in [(30, 4, 6, 3), (100, 0, 0, 1), (57, 10, 20, 7), (12, 1, 1, 5)]:
        peft_alloc.peft_config.total_step, peft_alloc.peft_config.tinit = total, tinit
        peft_alloc.peft_config.tfinal, peft_alloc.peft_config.deltaT = tfinal, delta
        mine = RankAllocator(adapters, target_budget=TARGET_R * len(adapters), total_steps=total,
                             warmup_steps=tinit, final_steps=tfinal, mask_interval=delta)
        for step in range(0, total + 3):
            budget, mask_ind = peft_alloc.budget_schedule(step)
            assert mine.schedule.budget(step) == budget, (total, tinit, tfinal, delta, step)
            if step <= total - tfinal:  # PEFT's flag; from final_start on it forces/freezes the mask
                assert mine.schedule.masks_at(step) == (mask_ind or step == total - tfinal)


# --------------------------------------------------------------------- deliberate differences
def test_scale_is_alpha_over_r_where_peft_uses_alpha_over_r_plus_1e5():
    ours, adapters, theirs = make_pair()
    with torch.no_grad():
        for a in adapters.values():
            a.lam.normal_()
        copy_weights(adapters, theirs)
    for name, a in adapters.items():
        module = theirs.base_model.model.get_submodule(name)
        torch.testing.assert_close(module.get_delta_weight("default"),
                                   a.delta_weight() * R / (R + 1e-5), rtol=1e-12, atol=0)
        assert a.scale == ALPHA / R


def test_regularizer_is_the_papers_squared_norm_where_peft_uses_the_norm():
    """PEFT: 0.5 * w * mean over the 2n matrices of ||A A^T - I||_F and ||B^T B - I||_F, added in
    its forward; ours: mean over the n layers of ||P^T P - I||_F^2 + ||Q Q^T - I||_F^2."""
    ours, adapters, theirs = make_pair(BertForSequenceClassification, peft_kw={"orth_reg_weight": 1.0})
    x, y = torch.randint(0, 60, (4, 6)), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        theirs_reg = theirs(input_ids=x, labels=y).loss - ours(input_ids=x, labels=y).loss
    eye = torch.eye(R, dtype=torch.float64)
    norms = [(torch.linalg.matrix_norm(a.P.T @ a.P - eye), torch.linalg.matrix_norm(a.Q @ a.Q.T - eye))
             for a in adapters.values()]
    torch.testing.assert_close(theirs_reg, sum(p + q for p, q in norms) / (2 * len(norms)))
    torch.testing.assert_close(orthogonality_loss(adapters), sum(p**2 + q**2 for p, q in norms) / len(norms))


def test_ties_at_the_threshold_keep_exactly_b_where_peft_masks_more():
    ours, adapters, theirs = make_pair()
    peft_alloc = theirs.base_model.rankallocator
    for n, p in theirs.named_parameters():  # every entry of every layer scores the same: all tie
        if "lora_" in n:
            peft_alloc.exp_avg_ipt[n] = torch.ones_like(p)
            peft_alloc.exp_avg_unc[n] = torch.ones_like(p)
    total = R * len(adapters)
    budget = total // 2
    peft_alloc.mask_to_budget(theirs, budget)
    peft_kept = sum(int(peft_mask(theirs, name).sum()) for name in adapters)
    assert peft_kept < budget  # PEFT: everything <= the k-th value is masked, ties included
    scores = torch.ones(total, dtype=torch.float64)
    assert int(top_b_mask(scores, budget).sum()) == budget  # ours: exactly b, lower index first


def test_budget_equal_to_total_masks_nothing_where_peft_crashes():
    ours, adapters, theirs = make_pair()
    peft_alloc = theirs.base_model.rankallocator
    for n, p in theirs.named_parameters():
        if "lora_" in n:
            peft_alloc.exp_avg_ipt[n] = torch.rand(p.shape, dtype=p.dtype)
            peft_alloc.exp_avg_unc[n] = torch.rand(p.shape, dtype=p.dtype)
    total = R * len(adapters)
    with pytest.raises(RuntimeError):  # kthvalue with k = 0
        peft_alloc.mask_to_budget(theirs, total)
    assert bool(top_b_mask(torch.rand(total), total).all())


def test_default_init_is_orthogonal_and_gaussian_init_matches_peft_statistics():
    torch.manual_seed(0)
    model = BertModel(tiny_config()).double()
    ortho = add_adapters(copy.deepcopy(model), TARGETS, adapter="svd", r=R, alpha=ALPHA)
    a = next(iter(ortho.values()))
    torch.testing.assert_close(a.P.T @ a.P, torch.eye(R, dtype=torch.float64))
    torch.testing.assert_close(a.Q @ a.Q.T, torch.eye(R, dtype=torch.float64))
    big = BertModel(tiny_config(hidden_size=256, intermediate_size=256, num_attention_heads=4)).double()
    gauss = add_adapters(copy.deepcopy(big), ["query"], adapter="svd", r=64, alpha=ALPHA, init="gaussian")
    theirs = get_peft_model(copy.deepcopy(big), peft_config(init_r=64, target_modules=["query"]))
    ours_P = torch.cat([a.P.reshape(-1) for a in gauss.values()])
    peft_B = torch.cat([p.reshape(-1) for n, p in theirs.named_parameters() if "lora_B" in n])
    assert abs(ours_P.std().item() - 0.02) < 1e-3 and abs(peft_B.std().item() - 0.02) < 1e-3
    assert all(bool((a.lam == 0).all()) for a in gauss.values())  # lam = 0, like PEFT's E = 0
    assert all(bool((p == 0).all()) for n, p in theirs.named_parameters() if "lora_E" in n)


def test_final_phase_is_frozen_in_both_although_peft_drops_its_emas():
    """PEFT resets its EMAs when the final phase starts, we keep ours: neither uses them again,
    so the masks of the final phase agree (checked step by step in the first test)."""
    ours, adapters, theirs = make_pair()
    alloc = our_allocator(adapters)
    gen = torch.Generator().manual_seed(5)
    for step in range(1, SCHEDULE["total_step"] + 1):
        with torch.no_grad():
            for a in adapters.values():
                for w in (a.P, a.lam, a.Q):
                    w += 0.05 * torch.randn(w.shape, generator=gen, dtype=w.dtype)
                    w.grad = torch.randn(w.shape, generator=gen, dtype=w.dtype)
            copy_weights(adapters, theirs)
            for name, a in adapters.items():
                B, E, A = peft_params(theirs, name)
                B.grad, E.grad, A.grad = a.P.grad.clone(), a.lam.grad[:, None].clone(), a.Q.grad.clone()
        alloc.update(step)
        theirs.base_model.update_and_allocate(step)
    assert theirs.base_model.rankallocator.exp_avg_ipt == {}
    assert bool(alloc.tracker.ibar.any())  # ours keeps the EMAs, PEFT clears its own
    for name, a in adapters.items():
        assert torch.equal(a.lam != 0, peft_mask(theirs, name))


def test_a_targeted_layer_without_gradient_warns_where_peft_crashes():
    """`dense` also matches BERT's pooler; a mean-pooled loss (the sentence-transformers way) never
    reaches it, so its adapter has no gradient."""
    torch.manual_seed(0)
    base = BertModel(tiny_config()).double()
    targets = ["query", "key", "value", "dense"]
    theirs = get_peft_model(copy.deepcopy(base), peft_config(target_modules=targets))
    ours = copy.deepcopy(base)
    adapters = add_adapters(ours, targets, adapter="svd", r=R, alpha=ALPHA)
    assert "pooler.dense" in adapters
    alloc = RankAllocator(adapters, target_budget=TARGET_R * len(adapters), total_steps=10,
                          warmup_steps=1, final_steps=2)
    x = torch.randint(0, 60, (4, 6))
    for model in (ours, theirs):
        model(input_ids=x).last_hidden_state.mean().backward()
    with pytest.raises(TypeError, match="NoneType"):
        theirs.base_model.update_and_allocate(1)
    with pytest.warns(UserWarning, match="pooler.dense.*no gradient"):
        alloc.update(1)
    assert float(alloc.layer_scores()["pooler.dense"].abs().sum()) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not at every step
        alloc.update(2)
