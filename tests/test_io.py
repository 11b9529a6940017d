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
    torch.manual_seed(1)
    x, y = torch.randn(24, 8), torch.randint(0, 3, (24,))
    losses = []
    for t in steps:
        loss = nn.functional.cross_entropy(model(x), y) + 0.1 * orthogonality_loss(adapters)
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
