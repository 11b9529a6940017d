"""The checks catch bugs: plant one bug at a time in the core and watch existing checks fail.

Each bug (tests/planted/bugs.py) is planted by monkeypatching, never by editing a file:

- unit checks: the bug is planted in this process (pytest's monkeypatch, undone afterwards) and
  existing test functions of the suite are called directly; at least one must fail. Without the
  bug every one of them passes (test_the_selected_checks_pass_without_a_bug).
- notebook checks: nbval runs one notebook in a subprocess whose kernel plants the bug at start-up
  (tests/planted/sitecustomize.py on PYTHONPATH, the bug's name in PLANTED_BUG; claims strict, as
  under the suite). It must stop at the named cell: a claim of the cell fails (ClaimFailed), or its
  output (or prose quoting it) differs from the stored one beyond the cell's tolerance. That same
  cell passes in the suite's own run of the notebook.

The only check written for this module is tests/test_scoring.py's
test_smooth_uses_beta1_for_the_ema_and_beta2_for_the_uncertainty: no check of the suite told
beta1 from beta2 (every one used 0.85 for both).
"""
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLANTED = ROOT / "tests" / "planted"
sys.path.insert(0, str(PLANTED))
import bugs  # noqa: E402  (tests/planted/bugs.py)

# bug -> existing unit tests ("module::function"), called with no arguments; at least one must fail
UNIT = {
    "top_b_keeps_lowest": ["test_allocator::test_top_b_mask_keeps_exactly_b_even_with_ties",
                           "test_budget_planted::test_default_setting_recovers_the_planted_allocation_and_beats_uniform_lora"],
    "betas_swapped": ["test_scoring::test_smooth_uses_beta1_for_the_ema_and_beta2_for_the_uncertainty"],
    "ubar_is_ibar": ["test_peft_agreement::test_same_weights_and_gradients_give_peft_scores_budget_and_masks_at_every_step"],
    "no_P_term": ["test_scoring::test_the_definition_reads_as_the_paper",
                  "test_allocator::test_scores_are_the_papers_formula"],
    "no_Q_term": ["test_scoring::test_the_definition_reads_as_the_paper",
                  "test_allocator::test_scores_are_the_papers_formula"],
    "cube_squared": ["test_schedule::test_matches_the_cubic_formula_in_the_middle"],
    "schedule_one_step_late": ["test_schedule::test_starts_at_initial_budget_and_ends_at_target",
                               "test_schedule::test_matches_the_cubic_formula_in_the_middle"],
    "orthogonality_grad_sign": ["test_reference_gradients::test_orthogonality_regularizer_gradient"],
    "scale_alpha_times_r": ["test_parity::test_lora_training_parity_float64",
                            "test_allocator::test_mask_count_follows_the_budget_and_final_allocation_is_frozen"],
    "mask_not_reapplied": ["test_allocator::test_mask_count_follows_the_budget_and_final_allocation_is_frozen",
                           "test_nn_adapters::test_svd_regularizer_and_allocator_on_torch_layers"],
}

# bug -> (notebook, the id of the code cell whose check catches it first)
NOTEBOOK = {
    "top_b_keeps_lowest": ("06_budget.ipynb", "f451108c"),  # the dashboard's ranks and losses
    "betas_swapped": ("05_importance.ipynb", "stability-grid"),  # its claim on the beta grid
    "ubar_is_ibar": ("05_importance.ipynb", "score-check"),  # the written-out Scorer vs the library
    "no_P_term": ("05_importance.ipynb", "score-check"),
    "no_Q_term": ("05_importance.ipynb", "score-check"),
    "cube_squared": ("06_budget.ipynb", "schedule"),  # the printed b(t)
    "schedule_one_step_late": ("06_budget.ipynb", "schedule"),
    "orthogonality_grad_sign": ("04_lora_vs_svd.ipynb", "mask-regrow"),  # its claim and losses
    "scale_alpha_times_r": ("04_lora_vs_svd.ipynb", "mask-regrow"),
    "mask_not_reapplied": ("06_budget.ipynb", "dashboard-run"),  # its claim on the final allocation
}


def _function(node):
    module, name = node.split("::")
    return getattr(importlib.import_module(module), name)


def _failures(nodes):
    """{node: the exception} for each test function of `nodes` that fails when called."""
    failed = {}
    for node in nodes:
        try:
            _function(node)()
        except Exception as exc:  # an AssertionError, or an error the bug provoked
            failed[node] = exc
    return failed


def test_every_bug_is_checked_by_a_unit_test_and_at_least_five_by_a_notebook():
    assert set(UNIT) == set(bugs.BUGS) and len(bugs.BUGS) >= 8
    assert len(NOTEBOOK) >= 5 and set(NOTEBOOK) <= set(bugs.BUGS)


def test_the_selected_checks_pass_without_a_bug():
    nodes = sorted({node for nodes in UNIT.values() for node in nodes})
    assert _failures(nodes) == {}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow once alpha * r blows training up
@pytest.mark.parametrize("bug", sorted(UNIT))
def test_an_existing_unit_check_catches_the_bug(bug, monkeypatch):
    for node in UNIT[bug]:
        _function(node)  # import the test modules first: their aliases get the bug too
    bugs.plant(bug, monkeypatch.setattr)
    failed = _failures(UNIT[bug])
    assert failed, f"no check of {UNIT[bug]} fails with the bug {bug!r} planted"


def _code_cell_ids(notebook):
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    return [c.get("id") for c in cells if c["cell_type"] == "code"]


def run_planted_notebook(bug, notebook):
    """nbval on `notebook` with `bug` planted in its kernel, stopping at the first failing cell.
    Returns (return code, id of the failing code cell or None, nbval's output)."""
    env = {**os.environ, "PLANTED_BUG": bug, "ADALORA_STRICT_CLAIMS": "1",
           "PYTHONPATH": os.pathsep.join([str(PLANTED), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           f"notebooks/{notebook}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    match = re.search(r"^FAILED notebooks/\S+::Cell (\d+)", out, re.M)
    cell = _code_cell_ids(notebook)[int(match.group(1))] if match else None
    return proc.returncode, cell, out


@pytest.mark.parametrize("bug", sorted(NOTEBOOK))
def test_a_notebook_check_catches_the_bug(bug):
    notebook, expected_cell = NOTEBOOK[bug]
    code, cell, out = run_planted_notebook(bug, notebook)
    assert code == 1 and cell == expected_cell, (
        f"{notebook} with {bug!r} planted: exit {code}, failing cell {cell!r} "
        f"(expected {expected_cell!r})\n{out[-3000:]}")
    assert "Notebook cell execution failed" in out
