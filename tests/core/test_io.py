"""save_adapters / load_adapters: exact round trips, exact resumption, clear mismatch errors."""
import pytest
import torch
from torch import nn

from adalora_lite import BudgetNotAppliedWarning, ConfigError, RankAllocator
from adalora_lite.nn import add_adapters, load_adapters, orthogonality_loss, save_adapters

SCHEDULE = dict(target_budget=4, total_steps=30, warmup_steps=3, final_steps=8, mask_interval=2)


def base_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def adapted():
    model = base_model()
    adapters = add_adapters(model, ["0", "2"], adapter="svd", r=4, alpha=8, modules_to_train="4")
    return model, adapters, RankAllocator(adapters, **SCHEDULE)


def train(model, adapters, alloc, steps):
    """SGD (stateless, so the checkpoint is the whole state) in the model's dtype; R(P, Q) on the
    SVD-form adapters. In float64, resumption must be bitwise."""
    dtype = next(model.parameters()).dtype
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(24, 8, generator=g, dtype=dtype), torch.randint(0, 3, (24,), generator=g)
    svd = {n: a for n, a in adapters.items() if hasattr(a, "lam")}
    losses = []
    for t in steps:
        loss = nn.functional.cross_entropy(model(x), y)
        if svd:
            loss = loss + 0.1 * orthogonality_loss(svd)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= 0.3 * p.grad
        alloc.update(t)
        model.zero_grad()
        losses.append(loss.item())
    return losses


def test_resume_is_exact(tmp_path):
    model, adapters, alloc = adapted()
    train(model, adapters, alloc, range(1, 11))
    save_adapters(tmp_path / "ckpt.safetensors", model, alloc)
    straight = train(model, adapters, alloc, range(11, 31))

    model2, adapters2, alloc2 = adapted()  # fresh adapters, then the checkpoint on top
    load_adapters(tmp_path / "ckpt.safetensors", model2, alloc2)
    resumed = train(model2, adapters2, alloc2, range(11, 31))
    assert resumed == straight  # bit for bit
    assert alloc2.rank_pattern() == alloc.rank_pattern()
    assert sum(alloc2.ranks().values()) == 4


def test_load_into_a_fresh_base_model_adds_the_adapters(tmp_path):
    model, adapters, alloc = adapted()
    train(model, adapters, alloc, range(1, 31))
    save_adapters(tmp_path / "a.safetensors", model)
    fresh = base_model()
    with torch.no_grad():
        fresh[4].weight.zero_()  # the trained head must come from the file
    loaded = load_adapters(tmp_path / "a.safetensors", fresh)
    assert set(loaded) == {"0", "2"}
    x = torch.randn(5, 8)
    assert torch.equal(fresh(x), model(x))
    for name in loaded:
        assert torch.equal(loaded[name].mask, adapters[name].mask)


def test_mismatched_model_is_a_clear_error(tmp_path):
    model, _, _ = adapted()
    with pytest.warns(BudgetNotAppliedWarning):  # never trained: the allocator never ran
        save_adapters(tmp_path / "a.safetensors", model)
    other = base_model()
    add_adapters(other, ["0"], adapter="svd", r=4, alpha=8)
    with pytest.raises(ConfigError, match="do not match"):
        load_adapters(tmp_path / "a.safetensors", other)
    other = base_model()
    add_adapters(other, ["0", "2"], adapter="svd", r=2, alpha=8)
    with pytest.raises(ConfigError, match="saved"):
        load_adapters(tmp_path / "a.safetensors", other)


def test_saving_a_model_without_adapters_fails_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no adapters"):
        save_adapters(tmp_path / "x.safetensors", base_model())


# ---------------------------------------------------------------- every adapter kind, with the allocator
# "svd" and "prunable_lora": every adapter is managed by the allocator. "lora": plain LoRALinear has
# no ranks to allocate, so its model holds LoRA on one layer beside an allocator-managed SVD layer.
KIND_LAYERS = {"svd": {"0": "svd", "2": "svd"},
               "prunable_lora": {"0": "prunable_lora", "2": "prunable_lora"},
               "lora": {"0": "lora", "2": "svd"}}


def plain_model():
    """The frozen base model, float64: the same weights at every call, as a pretrained one."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 3)).double()


def kind_model(kind):
    model = plain_model()
    adapters = {}
    for name, adapter in KIND_LAYERS[kind].items():
        adapters.update(add_adapters(model, [name], adapter=adapter, r=4, alpha=8,
                                     modules_to_train="4"))
    managed = {n: a for n, a in adapters.items() if hasattr(a, "apply_mask")}
    return model, adapters, RankAllocator(managed, **SCHEDULE)


def assert_same_state(model, alloc, model2, alloc2):
    """Every tensor of the models (adapters, masks, frozen base, head) and the allocators' state."""
    s1, s2 = model.state_dict(), model2.state_dict()
    assert s1.keys() == s2.keys()
    for key in s1:
        assert s1[key].dtype == s2[key].dtype and torch.equal(s1[key], s2[key]), key
    a1, a2 = alloc.state_dict(), alloc2.state_dict()
    assert (a1["budget"], a1["last_step"]) == (a2["budget"], a2["last_step"])
    for key in ("ibar", "ubar"):
        assert (a1[key] is None) == (a2[key] is None)
        if a1[key] is not None:
            assert a1[key].dtype == a2[key].dtype and torch.equal(a1[key], a2[key]), key
    assert torch.equal(alloc.triplet_scores(), alloc2.triplet_scores())
    assert alloc.rank_pattern() == alloc2.rank_pattern() and alloc.frozen == alloc2.frozen
    assert ([l.budget_applied for l in alloc.layers.values()]
            == [l.budget_applied for l in alloc2.layers.values()])


@pytest.mark.parametrize("save_at", [0, 2, 12, 25])  # before any update, warmup, cubic decay, final
@pytest.mark.parametrize("kind", sorted(KIND_LAYERS))
def test_round_trip_with_the_allocator_and_exact_resume_for_every_kind(tmp_path, kind, save_at):
    model, adapters, alloc = kind_model(kind)
    train(model, adapters, alloc, range(1, save_at + 1))
    path = tmp_path / f"{kind}.safetensors"
    save_adapters(path, model, alloc)

    model2, adapters2, alloc2 = kind_model(kind)
    train(model2, adapters2, alloc2, range(1, 4))  # a different state, overwritten by the file
    alloc2.load_state_dict({"ibar": None, "ubar": None, "budget": 8, "last_step": None})
    loaded = load_adapters(path, model2, alloc2)
    assert set(loaded) == set(KIND_LAYERS[kind])
    assert [type(a) for a in loaded.values()] == [type(a) for a in adapters.values()]
    assert_same_state(model, alloc, model2, alloc2)

    straight = train(model, adapters, alloc, range(save_at + 1, 31))
    resumed = train(model2, adapters2, alloc2, range(save_at + 1, 31))
    assert resumed == straight  # bit for bit, float64
    assert_same_state(model, alloc, model2, alloc2)
    assert sum(alloc2.ranks().values()) == SCHEDULE["target_budget"]


@pytest.mark.parametrize("kind", sorted(KIND_LAYERS))
def test_resumed_training_equals_uninterrupted_training(tmp_path, kind):
    """One run of 30 steps against a run stopped at step 12, saved, and resumed in a new model."""
    model, adapters, alloc = kind_model(kind)
    uninterrupted = train(model, adapters, alloc, range(1, 31))

    first, first_adapters, first_alloc = kind_model(kind)
    head = train(first, first_adapters, first_alloc, range(1, 13))
    save_adapters(tmp_path / "ckpt.safetensors", first, first_alloc)
    del first, first_adapters, first_alloc
    fresh = plain_model()
    adapters2 = load_adapters(tmp_path / "ckpt.safetensors", fresh)  # adds the saved adapters
    alloc2 = RankAllocator({n: a for n, a in adapters2.items() if hasattr(a, "apply_mask")}, **SCHEDULE)
    load_adapters(tmp_path / "ckpt.safetensors", fresh, alloc2)
    tail = train(fresh, adapters2, alloc2, range(13, 31))
    assert head + tail == uninterrupted
    assert_same_state(model, alloc, fresh, alloc2)

