"""adalora_lite.exercises.lora: right answers pass, wrong ones get a specific hint, None never raises."""
import numpy as np
import pytest
import torch

from adalora_lite.exercises import lora as E


@pytest.mark.parametrize("check", [E.check_lora_param_count, E.check_alpha_for_rank])
def test_placeholder_is_unanswered(check):
    fb = check(None)
    assert not fb and repr(fb).startswith("Not answered yet")


def test_param_count_of_a_layer_not_on_screen():  # notebook 03, exercise 1
    assert E.check_lora_param_count(61440, d_out=3072, d_in=768, r=16)
    assert E.check_lora_param_count(61440.0, d_out=3072, d_in=768, r=16)
    assert not E.check_lora_param_count(15360, d_out=3072, d_in=768, r=16)
    assert "B alone" in repr(E.check_lora_param_count(3072 * 16, d_out=3072, d_in=768, r=16))


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


def test_alpha_for_rank_right_and_rounded():
    assert E.rslora_alpha(16, 8, 16) == pytest.approx(22.627417)
    for right in (22.627417, 22.63, 22.6, 23, 16 * 2 ** 0.5):  # exact and correctly rounded
        fb = E.check_alpha_for_rank(right)
        assert fb and "sqrt" in repr(fb), right
    assert E.check_alpha_for_rank(32, alpha=16, r_old=8, r_new=32)  # a whole number when r grows 4x
    assert E.check_alpha_for_rank("22.63")  # a string of a number is a number


def test_alpha_for_rank_wrong():
    assert "LoRA's rule" in repr(E.check_alpha_for_rank(16))
    assert "no compensation" in repr(E.check_alpha_for_rank(32))
    assert "more than LoRA" in repr(E.check_alpha_for_rank(8))
    assert "more than LoRA" in repr(E.check_alpha_for_rank(11.31))
    assert "factor itself" in repr(E.check_alpha_for_rank(1.414))
    for wrong in (22.7, 22.0, 24, 10, -1, 0, True, "many"):  # 22.7 and 24: wrongly rounded
        assert not E.check_alpha_for_rank(wrong), wrong


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
