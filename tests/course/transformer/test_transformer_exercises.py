"""Notebook 07's checkers: right answers pass, wrong ones explain, placeholders do not raise."""
import pytest

from adalora_lite.exercises.transformer import (LOOP_STEPS, check_adalora_parameter_count,
                                                 check_attention_targets, check_loop_order,
                                                 minilm_linear_names, target_matches)


def test_parameter_count():
    assert check_adalora_parameter_count(249_048)
    assert "Not answered" in repr(check_adalora_parameter_count(None))
    assert "LoRA's count" in repr(check_adalora_parameter_count(6 * (4 * 6 * 768 + 2 * 6 * 1920)))
    assert "attention matrices only" in repr(check_adalora_parameter_count(6 * 4 * 6 * 769))
    assert not check_adalora_parameter_count(1000)
    assert "not a number" in repr(check_adalora_parameter_count("many"))


def test_loop_order():
    peft = check_loop_order(list(LOOP_STEPS))
    assert peft and "authors' code and PEFT" in repr(peft)
    assert "Not answered" in repr(check_loop_order(None))
    paper = ["forward", "backward", "allocator.update(step)", "optimizer.step()", "optimizer.zero_grad()"]
    assert check_loop_order(paper) and "Algorithm 1" in repr(check_loop_order(paper))
    early = ["forward", "allocator.update(step)", "backward", "optimizer.step()", "optimizer.zero_grad()"]
    assert "no gradient yet" in repr(check_loop_order(early))
    late = ["forward", "backward", "optimizer.step()", "optimizer.zero_grad()", "allocator.update(step)"]
    assert "gradients are gone" in repr(check_loop_order(late))
    forgot = ["forward", "backward", "optimizer.step()", "optimizer.zero_grad()"]
    assert "BudgetNotAppliedWarning" in repr(check_loop_order(forgot))
    assert not check_loop_order(["forward", "backward"])
    shuffled = ["backward", "forward", "optimizer.step()", "allocator.update(step)", "optimizer.zero_grad()"]
    assert "usual part first" in repr(check_loop_order(shuffled))


def test_attention_targets():
    assert check_attention_targets(["query", "key", "value", "attention.output.dense"])
    assert check_attention_targets(["self.query", "self.key", "self.value", "attention.output.dense"])
    assert "pooler" in repr(check_attention_targets(["query", "key", "value", "dense"]))
    feed_forward = repr(check_attention_targets(["query", "key", "value", "output.dense"]))
    assert "6 other layer" in feed_forward and "layer.0.output.dense" in feed_forward
    assert "misses 12" in repr(check_attention_targets(["query", "key"]))
    assert "Not answered" in repr(check_attention_targets(None))


def test_static_names_and_matching_rule_agree_with_the_real_model_and_add_adapters():
    transformers = pytest.importorskip("transformers")
    import torch

    from adalora_lite.data import minilm_path
    from adalora_lite.nn import add_adapters

    config = transformers.AutoConfig.from_pretrained(minilm_path(), num_labels=2)
    model = transformers.BertForSequenceClassification(config)  # structure only, no weights needed
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert linear == minilm_linear_names()
    for targets in (["dense"], ["output.dense"], ["query", "attention.output.dense"]):
        fresh = transformers.BertForSequenceClassification(config)
        adapted = add_adapters(fresh, targets, adapter="lora", r=1, alpha=1)
        assert list(adapted) == [n for n in linear if target_matches(n, targets)]
