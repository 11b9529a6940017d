"""Checkers for notebook 07's "try it" exercises (AdaLoRA on MiniLM).

Each checker takes the student's answer (None while unanswered) and returns a Feedback: truthy
when right, and its text says why, or what to look at again.

    check_adalora_parameter_count(answer)   adapter parameters AdaLoRA trains on MiniLM at init_r = 6
    check_loop_order(steps)                 where allocator.update(step) goes in the training step
    check_attention_targets(targets)        target_modules that adapt exactly the 24 attention matrices
"""
from ..counting import parameter_count
from .feedback import Feedback, as_number, not_a_number, unanswered

# MiniLM (BERT, 6 layers, hidden 384, FFN 1536) with a classification head: every nn.Linear.
BLOCK = (("attention.self.query", 384, 384), ("attention.self.key", 384, 384),
         ("attention.self.value", 384, 384), ("attention.output.dense", 384, 384),
         ("intermediate.dense", 384, 1536), ("output.dense", 1536, 384))  # (name, d_in, d_out)
N_LAYERS = 6


def minilm_linear_names():
    """Names of every nn.Linear in `load_minilm(num_labels=2)`, in module order."""
    names = [f"bert.encoder.layer.{k}.{name}" for k in range(N_LAYERS) for name, _, _ in BLOCK]
    return names + ["bert.pooler.dense", "classifier"]


def target_matches(name, targets):
    """PEFT's (and add_adapters') rule: a target matches a module named exactly so, or whose name
    ends with "." + target. So "dense" matches "bert.pooler.dense" too."""
    return any(name == t or name.endswith("." + t) for t in targets)


def check_adalora_parameter_count(answer, *, init_r=6):
    """Adapter parameters (P, lam, Q of every SVDLinear, no head) at rank `init_r` on the 36 matrices."""
    expected = N_LAYERS * sum(parameter_count(d_out, d_in, init_r, "svd") for _, d_in, d_out in BLOCK)
    if answer is None:
        return unanswered(f"each matrix (d_out x d_in) gets P (d_out x r), lam (r) and Q (r x d_in); "
                          f"r = {init_r}; 6 layers of 4 attention matrices 384x384 and two FFN "
                          "matrices 384->1536 and 1536->384.")
    value = as_number(answer)
    if value is None:
        return not_a_number(answer)
    if value == expected:
        return Feedback(True, f"Right: {expected:,} parameters, r (d_in + d_out + 1) per matrix. The "
                              "final budget keeps only part of them in use, but the optimizer trains all "
                              "of them from the start (masked triplets can come back).")
    lora_like = N_LAYERS * sum(parameter_count(d_out, d_in, init_r, "lora") for _, d_in, d_out in BLOCK)
    if value == lora_like:
        return Feedback(False, f"{int(value):,} is LoRA's count r (d_in + d_out): AdaLoRA also trains "
                               "one lambda per triplet.")
    attention_only = N_LAYERS * 4 * parameter_count(384, 384, init_r, "svd")
    if value == attention_only:
        return Feedback(False, f"{int(value):,} counts the 24 attention matrices only: add the two "
                               "feed-forward matrices of each layer (384 -> 1536 and 1536 -> 384).")
    return Feedback(False, f"{value:,.0f} is not it. Per matrix: r (d_out + 1 + d_in); there are 6 "
                           "layers x 6 matrices.")


LOOP_STEPS = ("forward", "backward", "optimizer.step()", "allocator.update(step)", "optimizer.zero_grad()")
# Two orders are right, and they differ in which weights the sensitivity |w * grad| pairs with the
# gradient: the paper's Algorithm 1 (lines 4-8) scores w(t) with its own gradient, before the update;
# the authors' code and PEFT score after optimizer.step(): the new weights with the old gradient.
PAPER_ORDER = ("forward", "backward", "allocator.update(step)", "optimizer.step()", "optimizer.zero_grad()")
PEFT_ORDER = LOOP_STEPS


def check_loop_order(steps):
    """The five calls of one AdaLoRA training step, in order (a list of the LOOP_STEPS strings)."""
    if steps is None:
        return unanswered(f"put these in order: {list(LOOP_STEPS)}.")
    steps = [str(s).strip() for s in steps]
    if sorted(steps) != sorted(LOOP_STEPS):
        missing = [s for s in LOOP_STEPS if s not in steps]
        extra = [s for s in steps if s not in LOOP_STEPS]
        if missing == ["allocator.update(step)"] and not extra:
            return Feedback(False, "Without allocator.update(step) the budget is never applied: every "
                                   "matrix keeps its initial rank, and save_adapters/merge_adapters warn "
                                   "with BudgetNotAppliedWarning. Put it back in the loop.")
        return Feedback(False, f"Use each of {list(LOOP_STEPS)} exactly once "
                               f"(missing: {missing}, not recognised or repeated: {extra}).")
    if tuple(steps) == PEFT_ORDER:
        return Feedback(True, "Right, in the order of the authors' code and PEFT: the allocator scores "
                              "|w * grad| with the weights *after* the optimizer step and the gradient "
                              "that produced them, and masks the updated lambdas. The paper's "
                              "Algorithm 1 scores before the step instead (w(t) with its own gradient); "
                              "both are accepted here, and notebook 07 measures how much they differ.")
    if tuple(steps) == PAPER_ORDER:
        return Feedback(True, "Right, in the paper's order (Algorithm 1, lines 4-8): the sensitivity "
                              "pairs w(t) with its own gradient, before the update. One catch: the "
                              "optimizer step that follows moves the lambdas just masked (by about the "
                              "learning rate) until the next masking. The authors' code and PEFT call "
                              "the allocator after optimizer.step() instead; both are accepted here.")
    pos = {s: steps.index(s) for s in steps}
    if pos["backward"] < pos["forward"] or pos["optimizer.step()"] < pos["backward"]:
        return Feedback(False, "The usual part first: forward, then backward, then optimizer.step().")
    if pos["allocator.update(step)"] > pos["optimizer.zero_grad()"]:
        return Feedback(False, "After zero_grad() the gradients are gone (None): the allocator would "
                               "see no gradient, warn, and score every triplet 0.")
    if pos["allocator.update(step)"] < pos["backward"]:
        return Feedback(False, "Before backward() there is no gradient yet: the sensitivity "
                               "|w * grad| needs this step's gradient.")
    return Feedback(False, "Not quite: zero_grad() clears the gradients for the next step, so it "
                           "comes last.")


def check_attention_targets(targets):
    """A target_modules list that adapts exactly the 24 attention matrices of MiniLM."""
    if targets is None:
        return unanswered('names are matched as suffixes: "query" matches '
                          '"bert.encoder.layer.0.attention.self.query".')
    if isinstance(targets, str):
        targets = [targets]
    names = minilm_linear_names()
    wanted = [n for n in names if ".attention." in n]
    chosen = [n for n in names if target_matches(n, targets)]
    extra = [n for n in chosen if n not in wanted]
    missing = [n for n in wanted if n not in chosen]
    if not extra and not missing:
        return Feedback(True, f"Right: {targets} matches the 24 attention matrices and nothing else "
                              "(not the pooler, not the feed-forward output).")
    parts = []
    if extra:
        parts.append(f"it also matches {len(extra)} other layer(s), e.g. {extra[0]!r}"
                     + (" (the pooler: a bare 'dense' matches it)" if any("pooler" in n for n in extra)
                        else ""))
    if missing:
        parts.append(f"it misses {len(missing)} attention matrices, e.g. {missing[0]!r}")
    return Feedback(False, f"Not yet: {'; '.join(parts)}. It matches {len(chosen)} of the 24.")
