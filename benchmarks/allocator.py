"""The allocator alone: a masking round of our RankAllocator against PEFT's update_and_allocate.

    .venv/bin/python benchmarks/allocator.py [--alloc-reps 30] [--device cuda]

A BERT of 6 (36 adapted matrices) or 24 (144) MiniLM-sized blocks, rank 8, random adapter weights
and gradients copied into both libraries. Ours: `RankAllocator.after_optimizer_step(t)` in PEFT's
order (what a training step calls after the optimizer); PEFT's: `AdaLoraModel.update_and_allocate(t)`.
Both mask every 10 steps, so a round is 9 steps that only update the EMAs and one that also masks.
After one untimed round each, `--alloc-reps` rounds each, the two libraries alternating which goes
first. Reported: the median per kind of step; a round's time from them (9 x the median update +
the median update with masking: robust to a shared machine's pauses, which land in a few steps);
ours / PEFT of that, the goal (issue 20: <= 0.33 at 36 and at 144 matrices); and, as a check, the
median of the per-round ratios of the measured rounds.
"""
import copy
import sys
import time

import timing

NAME = "allocator"
R, TARGET_R, ALPHA, MASK_INTERVAL = 8, 4, 16, 10
TOTAL_STEPS = 100_000  # long enough that every step is in the shrinking phase
BLOCKS = (6, 24)  # 36 and 144 adapted matrices
GOAL = 0.33  # ours / PEFT per masking round


def allocator_pair(n_blocks, device, seed=0):
    """(number of adapted matrices, our step function, PEFT's) on a BERT of `n_blocks` MiniLM-sized
    blocks with identical random adapter weights and gradients."""
    import torch
    from peft import AdaLoraConfig, get_peft_model
    from transformers import BertConfig, BertModel

    from adalora_lite import RankAllocator
    from adalora_lite.data import MINILM_TARGETS
    from adalora_lite.nn import add_adapters

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=32, hidden_size=384, num_hidden_layers=n_blocks, num_attention_heads=12,
                        intermediate_size=1536)
    base = BertModel(config).to(device)
    ours = copy.deepcopy(base)
    adapters = add_adapters(ours, MINILM_TARGETS, adapter="svd", r=R, alpha=ALPHA)
    allocator = RankAllocator(adapters, target_budget=TARGET_R * len(adapters), total_steps=TOTAL_STEPS,
                              warmup_steps=0, final_steps=0, mask_interval=MASK_INTERVAL, order="peft")
    theirs = get_peft_model(copy.deepcopy(base), AdaLoraConfig(
        init_r=R, target_r=TARGET_R, lora_alpha=ALPHA, target_modules=list(MINILM_TARGETS),
        tinit=0, tfinal=0, deltaT=MASK_INTERVAL, total_step=TOTAL_STEPS))
    with torch.no_grad():
        for name, layer in adapters.items():
            module = theirs.base_model.model.get_submodule(name)
            for ours_p, their_p in ((layer.P, module.lora_B["default"]), (layer.lam, module.lora_E["default"]),
                                    (layer.Q, module.lora_A["default"])):
                ours_p.normal_()
                ours_p.grad = torch.randn_like(ours_p)
                their_p.copy_(ours_p.reshape(their_p.shape))
                their_p.grad = ours_p.grad.reshape(their_p.shape).clone()
    return len(adapters), allocator.after_optimizer_step, theirs.base_model.update_and_allocate


def add_arguments(parser):
    parser.add_argument("--alloc-reps", type=int, default=30, help="allocator: rounds of 10 steps")


def run(args):
    meta = timing.start(NAME, reps=args.alloc_reps, rank=R, mask_interval=MASK_INTERVAL, goal=GOAL)
    out = {}
    for n_blocks in BLOCKS:
        n, ours, peft = allocator_pair(n_blocks, args.device)
        steps = {"ours": ours, "PEFT": peft}
        samples = {(who, kind): [] for who in steps for kind in ("update", "update + mask")}
        rounds = {who: [] for who in steps}
        done = {who: 0 for who in steps}
        for who, step in steps.items():  # one untimed round: first calls allocate and warm caches
            for _ in range(MASK_INTERVAL):
                done[who] += 1
                step(done[who])
        for rep in range(args.alloc_reps):
            for who in (list(steps) if rep % 2 == 0 else list(steps)[::-1]):
                spent = 0.0
                for _ in range(MASK_INTERVAL):  # 9 steps that only update the EMAs, then one that masks
                    done[who] += 1
                    timing.sync(args.device)
                    start = time.perf_counter()
                    steps[who](done[who])
                    timing.sync(args.device)
                    seconds = time.perf_counter() - start
                    spent += seconds
                    kind = "update + mask" if done[who] % MASK_INTERVAL == 0 else "update"
                    samples[(who, kind)].append(seconds)
                rounds[who].append(spent)
        medians = {key: timing.quantiles(v) for key, v in samples.items()}
        from_medians = {who: (MASK_INTERVAL - 1) * medians[(who, "update")]["median"]
                        + medians[(who, "update + mask")]["median"] for who in steps}
        out[str(n)] = {
            "steps": {f"{who} | {kind}": q for (who, kind), q in medians.items()},
            "round_from_medians": from_medians,
            "round_ratio": from_medians["ours"] / from_medians["PEFT"],
            "rounds": {who: timing.quantiles(v) for who, v in rounds.items()},
            "paired_round_ratio": timing.paired_ratio(rounds["ours"], rounds["PEFT"]),
            "raw_rounds": rounds,
        }
        print(f"  {n} matrices: a round ours {1e3 * from_medians['ours']:.1f} ms, PEFT "
              f"{1e3 * from_medians['PEFT']:.1f} ms, ours / PEFT {out[str(n)]['round_ratio']:.3f} "
              f"(goal <= {GOAL}; per-round ratios: median {out[str(n)]['paired_round_ratio']:.3f})",
              file=sys.stderr, flush=True)
    timing.save(NAME, meta, {"matrices": out}, device=args.device)


if __name__ == "__main__":
    timing.main(sys.modules[__name__])
