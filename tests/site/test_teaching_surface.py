"""What a learner reads carries no test machinery and cites sources a learner can open.

The checks themselves live in cell metadata (tests/NOTEBOOK_CONVENTIONS.md); a stated result is
checked in the cell by a visible `claim(...)`, never a bare `assert` that ends in a traceback.
"""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Our own working notes are no source for a learner: the papers, the authors' code and PEFT are.
OUR_NOTES = re.compile(r"\bseed 00\d\b|\bseeds? documents?\b|\bfield[- ]notes\b|FIELD-NOTES|"
                       r"blog post among|shared/seeds", re.IGNORECASE)


def cells(path):
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_carry_no_test_machinery(path):
    for cell in cells(path):
        if cell.cell_type == "code":
            assert "NBVAL" not in cell.source, f"{path.name} {cell.id}: checks belong in metadata"
            assert not re.search(r"^\s*assert\b", cell.source, re.MULTILINE), \
                f"{path.name} {cell.id}: a stated result is checked with claim(...), not assert"
        else:
            assert "<!-- quote" not in cell.source, f"{path.name} {cell.id}: quotes belong in metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_cite_no_notes_of_ours(path):
    for cell in cells(path):
        texts = [cell.source] + [str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
                                 for out in cell.get("outputs", [])]
        for text in texts:
            match = OUR_NOTES.search(text)
            assert not match, f"{path.name} {cell.id}: cites our own notes ({match.group(0)!r})"


def test_the_readme_and_the_library_cite_no_notes_of_ours():
    files = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "adalora_lite").rglob("*.py"))]
    found = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in files
             for m in [OUR_NOTES.search(p.read_text())] if m]
    assert not found, found


# Issue 22: a main path that reads in about 25 minutes, then reference material.
MAIN_PATH_WORDS, CELL_WORDS = 2000, 300
GOING_DEEPER = re.compile(r"^## Going deeper\s*$", re.MULTILINE)


def prose_words(source):
    """Words a learner reads: whitespace-separated tokens, LaTeX and HTML comments left out."""
    return len(re.sub(r"\$\$.*?\$\$|\$[^$]*\$|<!--.*?-->", " ", source, flags=re.S).split())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_main_path_of_about_25_minutes_then_going_deeper(path):
    prose = [cell.source for cell in cells(path) if cell.cell_type == "markdown"]
    longest = max(prose, key=prose_words)
    assert prose_words(longest) <= CELL_WORDS, f"{path.name}: a prose cell of {prose_words(longest)} words"
    if path.stem == "classroom":  # panels for a projector, no reading path
        return
    deeper = next((i for i, text in enumerate(prose) if GOING_DEEPER.search(text)), None)
    assert deeper is not None, f"{path.name}: no '## Going deeper' heading"
    main = sum(prose_words(text) for text in prose[:deeper])
    assert main <= MAIN_PATH_WORDS, f"{path.name}: {main} words before 'Going deeper'"
