"""AdaLoRA on the real pretrained MiniLM (offline): 36 adapted matrices, budget, count, round trip."""
import pytest
import torch

from adalora_lite import RankAllocator
from adalora_lite.data import MINILM_TARGETS, load_minilm
from adalora_lite.nn import (load_adapters, orthogonality_loss, save_adapters,
                             trainable_parameter_count)
from adalora_lite.nn import add_adapters

R, TARGET = 6, 100
SCHEDULE = dict(total_steps=12, warmup_steps=2, final_steps=4, mask_interval=2)
TEXTS = ["a wonderful, moving film", "dull and far too long", "I loved every minute of it",
         "the worst service I have had", "great acting and a clever plot", "boring, flat, forgettable",
         "what a delight", "never again"]
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    model, tokenizer = load_minilm(num_labels=2)
    adapters = add_adapters(model, MINILM_TARGETS, adapter="svd", r=R, alpha=2 * R,
                            modules_to_train="classifier")
    alloc = RankAllocator(adapters, target_budget=TARGET, **SCHEDULE)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = torch.tensor(LABELS)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    for t in range(1, SCHEDULE["total_steps"] + 1):
        loss = model(**batch, labels=labels).loss + 0.1 * orthogonality_loss(adapters)
        loss.backward()
        opt.step()
        alloc.update(t)
        opt.zero_grad()
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "minilm.safetensors"
    save_adapters(path, model, alloc)
    return model, tokenizer, adapters, alloc, batch, path


def test_all_36_attention_and_feed_forward_matrices_adapted(trained):
    _, _, adapters, _, _, _ = trained
    assert len(adapters) == 36
    assert not any("pooler" in name for name in adapters)
    kinds = {name.split("layer.")[1].split(".", 1)[1] for name in adapters}
    assert kinds == {"attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "intermediate.dense", "output.dense"}


def test_trainable_parameter_count_is_the_formula(trained):
    model, _, adapters, _, _, _ = trained
    per_layer = sum(R * (a.d_out + 1 + a.d_in) for a in adapters.values())
    # 6 blocks x (4 attention 384x384 + 384->1536 + 1536->384), plus the 384->2 classifier head
    assert per_layer == 6 * (4 * R * (384 + 1 + 384) + 2 * R * (1536 + 1 + 384))
    assert trainable_parameter_count(model) == per_layer + 384 * 2 + 2


def test_final_phase_keeps_exactly_the_target_budget(trained):
    _, _, adapters, alloc, _, _ = trained
    assert alloc.frozen and alloc.budget == TARGET
    assert sum(alloc.ranks().values()) == TARGET
    assert sum(int((a.lam != 0).sum()) for a in adapters.values()) <= TARGET
    assert len(set(alloc.ranks().values())) > 1  # the budget was spread unevenly


def test_save_load_gives_identical_outputs(trained):
    model, _, adapters, _, batch, path = trained
    fresh, _ = load_minilm(num_labels=2)
    fresh.eval()
    loaded = load_adapters(path, fresh)
    assert set(loaded) == set(adapters)
    with torch.no_grad():
        assert torch.equal(fresh(**batch).logits, model(**batch).logits)
