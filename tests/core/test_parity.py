"""NumPy reference vs PyTorch path: same network, weights, data and schedule give the same run."""
import numpy as np
import pytest
import torch

from adalora_lite import RankAllocator, reference
from adalora_lite.allocator import SCORES
from adalora_lite import nn as ann

SCHEDULE = dict(total_steps=60, warmup_steps=5, final_steps=15, mask_interval=4)


def twin_models(adapter, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(16, 8)) / 3, rng.normal(size=(12, 16)) / 4, rng.normal(size=(6, 12)) / 3]
    biases = [rng.normal(size=w.shape[0]) / 10 for w in weights]
    ref = reference.MLP(weights, biases, adapter=adapter, r=4, alpha=8.0, rng=rng)
    net = ann.MLP(weights, biases, adapter=adapter, r=4, alpha=8.0)
    with torch.no_grad():  # same adapter initialisation on both sides
        for name, layer in ref.layers.items():
            for pname, w in layer.params().items():
                getattr(net.adapters[name], pname).copy_(torch.from_numpy(w))
    return ref, net


def data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(40, 8)), rng.integers(0, 6, 40)


@pytest.mark.parametrize("score", SCORES)
def test_adalora_training_parity_float64(score):
    ref, net = twin_models("svd")
    kw = dict(target_budget=5, score=score, **SCHEDULE)
    ref_alloc, net_alloc = RankAllocator(ref.layers, **kw), RankAllocator(net.adapters, **kw)
    x, y = data()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    masked_ever = False
    for t in range(1, SCHEDULE["total_steps"] + 1):
        loss_ref = reference.train_step(ref, x, y, lr=0.5, gamma=0.1, allocator=ref_alloc, step=t)
        loss_net = ann.train_step(net, xt, yt, lr=0.5, gamma=0.1, allocator=net_alloc, step=t)
        assert loss_net == pytest.approx(loss_ref, rel=1e-8, abs=1e-10), t
        assert ref_alloc.rank_pattern() == net_alloc.rank_pattern(), t
        np.testing.assert_allclose(net_alloc.triplet_scores().numpy(), ref_alloc.triplet_scores(),
                                   rtol=1e-6, atol=1e-14)
        for name, layer in ref.layers.items():
            np.testing.assert_allclose(net.adapters[name].lam.detach().numpy(), layer.lam,
                                       rtol=1e-8, atol=1e-10, err_msg=f"{name} step {t}")
        masked_ever |= not all(all(p) for p in ref_alloc.rank_pattern().values())
    assert masked_ever
    assert sum(net_alloc.ranks().values()) == 5


def test_lora_training_parity_float64():
    ref, net = twin_models("lora")
    x, y = data()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for t in range(20):
        loss_ref = reference.train_step(ref, x, y, lr=0.5)
        loss_net = ann.train_step(net, xt, yt, lr=0.5)
        assert loss_net == pytest.approx(loss_ref, rel=1e-10), t
    for name, layer in ref.layers.items():
        np.testing.assert_allclose(net.adapters[name].delta_weight().detach().numpy(),
                                   layer.delta_weight(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("adapter", ["lora", "svd"])
def test_layer_forward_and_input_gradient_match(adapter):
    ref, net = twin_models(adapter)
    rng = np.random.default_rng(2)
    for name, layer in ref.layers.items():
        for w in layer.params().values():
            w[...] = rng.normal(size=w.shape)
        with torch.no_grad():
            for pname, w in layer.params().items():
                getattr(net.adapters[name], pname).copy_(torch.from_numpy(w))
        x = rng.normal(size=(5, layer.d_in))
        g = rng.normal(size=(5, layer.d_out))
        xt = torch.from_numpy(x).requires_grad_()
        out = net.adapters[name](xt)
        (out * torch.from_numpy(g)).sum().backward()
        np.testing.assert_allclose(out.detach().numpy(), layer.forward(x), rtol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), layer.backward(g), rtol=1e-10, atol=1e-12)
        for pname in layer.params():
            np.testing.assert_allclose(getattr(net.adapters[name], pname).grad.numpy(),
                                       layer.grads[pname], rtol=1e-10, atol=1e-12)
