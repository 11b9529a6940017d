"""adalora_lite.exercises.lora: right answers pass, wrong ones get a specific hint, None never raises."""
import numpy as np
import pytest
import torch

from adalora_lite.exercises import lora as E


@pytest.mark.parametrize("check", [E.check_lora_param_count, E.check_alpha_for_rank])
def test_placeholder_is_unanswered(check):
    fb = check(None)
    assert not fb and repr(fb).startswith("Not answered yet")


def test_param_count():
    assert E.check_lora_param_count(15360)
    assert "15,360" in repr(E.check_lora_param_count(15360.0))
    assert "full fine-tuning" in repr(E.check_lora_param_count(1536 * 384))
    assert "B alone" in repr(E.check_lora_param_count(1536 * 8))
    assert "A alone" in repr(E.check_lora_param_count(384 * 8))
    assert "bias" in repr(E.check_lora_param_count(15360 + 1536))
    assert not E.check_lora_param_count(12345)
    assert "not a number" in repr(E.check_lora_param_count("many"))
    assert E.check_lora_param_count(2 * (4 + 6), d_out=4, d_in=6, r=2)


def test_alpha_for_rank():
    assert E.check_alpha_for_rank(16)
    wrong = E.check_alpha_for_rank(64)
    assert not wrong and "4x larger" in repr(wrong)
    assert "smaller lr" in repr(E.check_alpha_for_rank(4))
    assert not E.check_alpha_for_rank(-1)
    assert not E.check_alpha_for_rank(10)
    assert not E.check_alpha_for_rank(True)


@pytest.fixture
def swap():
    rng = np.random.default_rng(0)
    W0 = rng.normal(size=(5, 3))
    A1, B1, A2, B2 = rng.normal(size=(2, 3)), rng.normal(size=(5, 2)), rng.normal(size=(2, 3)), rng.normal(size=(5, 2))
    scale = 4.0
    return W0 + scale * B1 @ A1, (A1, B1), (A2, B2), scale, W0


def test_swapped_weight(swap):
    W, old, new, scale, W0 = swap
    (A1, B1), (A2, B2) = old, new
    assert not E.check_swapped_weight(None, W, old, new, scale)
    assert E.check_swapped_weight(W0 + scale * B2 @ A2, W, old, new, scale)
    as_torch = torch.from_numpy(W - scale * B1 @ A1 + scale * B2 @ A2)
    assert E.check_swapped_weight(as_torch, W, old, new, scale)  # tensors are fine too
    assert "W0" in repr(E.check_swapped_weight(W0, W, old, new, scale))
    assert "scale" in repr(E.check_swapped_weight(W - B1 @ A1 + B2 @ A2, W, old, new, scale))
    assert "on top" in repr(E.check_swapped_weight(W + scale * B2 @ A2, W, old, new, scale))
    assert "shape" in repr(E.check_swapped_weight(W.T, W, old, new, scale))
    assert "array" in repr(E.check_swapped_weight("W'", W, old, new, scale))
    assert not E.check_swapped_weight(W, W, old, new, scale)
