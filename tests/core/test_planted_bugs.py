"""The checks catch bugs: plant one bug at a time in the core and watch existing checks fail.

Each bug (tests/planted/bugs.py) is planted by monkeypatching, never by editing a file:

- unit checks: the bug is planted in this process (pytest's monkeypatch, undone afterwards) and
  existing test functions of the suite are called directly; at least one must fail. Without the
  bug every one of them passes (test_the_selected_checks_pass_without_a_bug).
- notebook checks: nbval runs a copy of the notebook per bug, in one subprocess per notebook; each
  copy's kernel plants its bug at start-up (tests/planted/one_bug_per_copy.py sets PLANTED_BUG,
  tests/planted/sitecustomize.py on PYTHONPATH plants it; claims strict, as under the suite). Each
  copy must stop at the bug's named cell: a claim of the cell fails (ClaimFailed), or its output
  (or prose quoting it) differs from the stored one beyond the cell's tolerance. That same cell
  passes in the suite's own run of the notebook.

The only check written for this module is tests/core/test_scoring.py's
test_smooth_uses_beta1_for_the_ema_and_beta2_for_the_uncertainty: no check of the suite told
beta1 from beta2 (every one used 0.85 for both).
"""
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
    if module not in sys.modules:  # not collected in this run (e.g. `pytest tests/core`): import it
        # as pytest would, by its basename from its own folder (tests/ folders have no __init__.py)
        folder = next((ROOT / "tests").rglob(f"{module}.py")).parent
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
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


def run_planted_copies(bugs, notebook, workdir):
    """nbval on one copy of `notebook` per bug of `bugs` (`workdir/<bug>/<notebook>`), each with its
    bug planted in its kernel and stopping at its first failing cell, in one pytest process.
    Returns (return code, {bug: (id of the first failing code cell or None, nbval's report)}, output)."""
    for bug in bugs:
        (workdir / bug).mkdir()
        shutil.copy(ROOT / "notebooks" / notebook, workdir / bug / notebook)
    report = workdir / "first_failures.json"
    env = {**os.environ, "PLANTED_REPORT": str(report), "ADALORA_STRICT_CLAIMS": "1",
           "PYTHONPATH": os.pathsep.join([str(PLANTED), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("PLANTED_BUG", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(workdir),
                           "-p", "tests.nbval_numeric", "-p", "one_bug_per_copy",
                           *(str(workdir / bug / notebook) for bug in bugs)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    ids = _code_cell_ids(notebook)
    first = {bug: (ids[f["cell"]] if f["cell"] is not None else None, f["report"])
             for bug, f in json.loads(report.read_text()).items()} if report.exists() else {}
    return proc.returncode, first, proc.stdout + proc.stderr


@pytest.mark.parametrize("notebook", sorted({notebook for notebook, _ in NOTEBOOK.values()}))
def test_a_notebook_check_catches_each_bug(notebook, tmp_path):
    planted = sorted(bug for bug, (name, _) in NOTEBOOK.items() if name == notebook)
    code, first, out = run_planted_copies(planted, notebook, tmp_path)
    assert code == 1, f"{notebook}: exit {code}\n{out[-3000:]}"
    for bug in planted:
        cell, report = first.get(bug, (None, ""))
        assert cell == NOTEBOOK[bug][1] and "Notebook cell execution failed" in report, (
            f"{notebook} with {bug!r} planted: failing cell {cell!r} (expected {NOTEBOOK[bug][1]!r})"
            f"\n{report[-3000:] or out[-3000:]}")
