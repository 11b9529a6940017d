"""The PyTorch adapters: injection, freezing, merging, dtypes, devices and bad input."""
import numpy as np
import pytest
import torch
from torch import nn

from adalora_lite import ConfigError, RankAllocator
from adalora_lite.nn import (LoRALinear, SVDLinear, add_adapters, find_adapters, merge_adapters,
                             orthogonality_loss, trainable_parameter_count, unmerge_adapters)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def toy(dtype=torch.float32, device="cpu"):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(),
                         nn.Linear(20, 3)).to(dtype=dtype, device=device)


def perturb(adapters):
    with torch.no_grad():
        for a in adapters.values():
            for p in a.parameters():
                if p.requires_grad:
                    p.normal_()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("adapter", ["lora", "svd"])
def test_merge_then_unmerge(adapter, dtype, device):
    model = toy(dtype, device)
    x = torch.randn(7, 10, dtype=dtype, device=device)
    base_out = model(x)
    adapters = add_adapters(model, ["0", "2"], adapter=adapter, r=4, alpha=8)
    assert torch.equal(model(x), base_out)  # adapters start as the identity change
    perturb(adapters)
    adapted = model(x)
    assert not torch.allclose(adapted, base_out)
    merge_adapters(model)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(model(x), adapted, **tol)
    unmerge_adapters(model)
    torch.testing.assert_close(model(x), adapted, **tol)
    for a in adapters.values():
        assert a.P.dtype == dtype if adapter == "svd" else a.A.dtype == dtype
        assert next(a.parameters()).device.type == device


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("adapter", ["lora", "svd"])
def test_mixed_precision_autocast_trains_and_matches_float32(adapter, device):
    """Under autocast the frozen layer's output is bfloat16 while the factors stay float32; the
    adapter's in-place product must still run, train every factor, and agree with float32."""
    model = toy(device=device)
    adapters = add_adapters(model, ["0", "2"], adapter=adapter, r=4, alpha=8)
    perturb(adapters)
    x = torch.randn(7, 10, device=device)
    reference = model(x)
    with torch.autocast(device, dtype=torch.bfloat16):
        out = model(x)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16
    # bfloat16 keeps 8 significant bits; measured here, the largest difference was 0.3 % (LoRA)
    # and 1.2 % (SVD) of the largest output, and a wrong or missing update moves it by far more
    assert (out.float() - reference).abs().max() <= 0.03 * reference.abs().max()
    for a in adapters.values():
        assert all(p.grad is not None and p.grad.dtype == torch.float32
                   for p in a.parameters() if p.requires_grad)


def test_only_adapters_and_named_modules_train():
    model = toy()
    adapters = add_adapters(model, ["0", "2"], adapter="svd", r=3, alpha=6, modules_to_train="4")
    # SVD adapter: P (d_out, r) + lam (r,) + Q (r, d_in) per layer; layer 4 (20->3) fully trained
    expected = (20 * 3 + 3 + 3 * 10) + (20 * 3 + 3 + 3 * 20) + (20 * 3 + 3)
    assert trainable_parameter_count(model) == expected
    assert set(find_adapters(model)) == {"0", "2"}
    assert not model[0].base.weight.requires_grad


def test_svd_regularizer_and_allocator_on_torch_layers():
    model = toy(torch.float64)
    adapters = add_adapters(model, ["0", "2", "4"], adapter="svd", r=3, alpha=6)
    assert orthogonality_loss(adapters).item() == pytest.approx(0, abs=1e-20)  # orthogonal init
    alloc = RankAllocator(adapters, target_budget=4, total_steps=20, warmup_steps=2, final_steps=5)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x, y = torch.randn(32, 10, dtype=torch.float64), torch.randint(0, 3, (32,))
    for t in range(1, 21):
        loss = nn.functional.cross_entropy(model(x), y) + 0.1 * orthogonality_loss(adapters)
        loss.backward()
        opt.step()
        alloc.update(t)
        opt.zero_grad()
    assert sum(alloc.ranks().values()) == 4
    for a in adapters.values():
        assert not a.lam[~a.mask].any()


@pytest.mark.parametrize("kw, match", [
    (dict(r=0), r"r must be in \[1, 10\]"),
    (dict(r=-2), "r must be"),
    (dict(r=11), r"r must be in \[1, 10\]"),
    (dict(r=2.5), "r must be an integer"),
    (dict(alpha=0), "alpha must be"),
    (dict(alpha=float("nan")), "alpha must be"),
    (dict(adapter="dora"), "adapter must be one of"),
    (dict(init="zeros"), "init must be"),
])
def test_bad_adapter_arguments(kw, match):
    args = dict(adapter="svd", r=4, alpha=8)
    with pytest.raises(ConfigError, match=match):
        add_adapters(toy(), ["0"], **{**args, **kw})


def test_targets_that_match_nothing_or_a_non_linear():
    with pytest.raises(ConfigError, match="match no module.*nn.Linear modules include"):
        add_adapters(toy(), ["query"], r=2, alpha=2)
    with pytest.raises(ConfigError, match="only nn.Linear"):
        add_adapters(toy(), ["1"], r=2, alpha=2)  # a ReLU


def test_shape_mismatch_is_a_clear_error():
    layer = SVDLinear(nn.Linear(6, 4), r=2, alpha=2)
    with pytest.raises(ConfigError, match="d_in=6"):
        layer(torch.randn(3, 5))
    with pytest.raises(ConfigError, match="torch.nn.Linear"):
        LoRALinear(nn.Conv1d(3, 3, 1), r=1, alpha=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    model_cpu = toy(torch.float64)
    adapters_cpu = add_adapters(model_cpu, ["0", "2"], adapter="svd", r=4, alpha=8)
    perturb(adapters_cpu)
    model_gpu = toy(torch.float64)
    add_adapters(model_gpu, ["0", "2"], adapter="svd", r=4, alpha=8)
    model_gpu.load_state_dict(model_cpu.state_dict())
    model_gpu.cuda()
    x = torch.randn(5, 10, dtype=torch.float64)
    torch.testing.assert_close(model_gpu(x.cuda()).cpu(), model_cpu(x), rtol=1e-10, atol=1e-10)


def test_per_module_ranks_and_adapters_added_in_two_calls_both_train():
    model = toy()
    first = add_adapters(model, ["0", "2"], adapter="lora", r={"0": 2, "2": 5}, alpha=4)
    assert (first["0"].r, first["2"].r) == (2, 5)
    second = add_adapters(model, "4", adapter="lora", r=3, alpha=4)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"0.A", "0.B", "2.A", "2.B", "4.A", "4.B"}
    assert second["4"].r == 3


def test_mlp_without_adapters_and_with_a_rank_per_layer():
    from adalora_lite import reference
    from adalora_lite.nn import MLP

    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(6, 4)), rng.normal(size=(5, 6)), rng.normal(size=(3, 5))]
    biases = [np.zeros(w.shape[0]) for w in weights]
    for w in weights + biases:
        w.setflags(write=False)  # read-only arrays are copied, without torch's warning
    plain = MLP(weights, biases, adapter=None)
    assert plain.adapters == {} and all(p.requires_grad for p in plain.parameters())
    np.testing.assert_array_equal(plain.arrays()[0][1], weights[1])
    net = MLP(weights, biases, adapter="svd", r=(1, 3, 2), alpha=4.0)
    ref = reference.MLP(weights, biases, adapter="svd", r=(1, 3, 2), alpha=(4.0, 4.0, 4.0), rng=0)
    assert [a.r for a in net.adapters.values()] == [1, 3, 2] == [l.r for l in ref.layers.values()]
    x = rng.normal(size=(2, 4))
    np.testing.assert_allclose(plain(torch.as_tensor(x)).detach().numpy(), ref.forward(x))
    with pytest.raises(ConfigError, match="r needs one value per layer"):
        reference.MLP(weights, biases, r=(1, 2), alpha=1.0)
