"""The notebook comparison rules of tests/nbval_numeric.py: tolerant where it should be, strict
where a wrong result would otherwise pass."""
import nbformat
import pytest

from tests.nbval_numeric import (DEFAULT, Tolerance, compare_text, find_quotes, last_digit,
                                 parse_tolerance, split_numbers)


def ok(stored, fresh, tolerance=DEFAULT):
    return not compare_text(stored, fresh, tolerance)[0]


def test_one_unit_of_the_last_digit_is_a_rounding_boundary_not_a_difference():
    assert ok("accuracy 0.7892", "accuracy 0.7893")
    assert not ok("accuracy 0.7892", "accuracy 0.7894")
    assert last_digit("0.7892") == pytest.approx(1e-4) and last_digit("3.27e-12") == pytest.approx(1e-14)


def test_hex_colours_are_text_not_huge_floats():
    # plotly's Viridis holds "#3e4989", which would otherwise read as the number 3e4989 (inf)
    assert split_numbers('"color": "#3e4989", "x": 2')[1] == ["2"]
    assert ok('"color": "#3e4989"', '"color": "#3e4989"')
    assert not ok('"color": "#3e4989"', '"color": "#3e4990"')
    assert not ok('"color": "#3e4989"', '"color": "#1e3"')


def test_default_has_an_absolute_floor_for_zero_up_to_rounding():
    assert ok("residual 4.37e-12", "residual 3.27e-12")
    assert not ok("residual 4.37e-3", "residual 3.27e-3")


def test_integers_are_discrete_outcomes_compared_exactly_unless_claimed():
    assert not ok("rank 2", "rank 1", Tolerance(rel=0.5, abs=1.0))
    assert ok("rank 2", "rank 1", Tolerance(rel=0, abs=0, ints=False))


def test_the_words_and_the_layout_must_match():
    assert not ok("merged is faster: True", "merged is faster: False")
    assert not ok("a 1.0 b", "a 1.0 b 2.0")
    assert ok("  75   0.1", " 100 0.1", Tolerance(0, 0, ints=False))  # widths change with digits


def test_training_tolerance_and_thousands_separators():
    tol = Tolerance(rel=0.01, abs=0.002)
    assert ok("loss 2.4824", "loss 2.4900", tol)
    assert not ok("loss 2.4824", "loss 2.5558", tol)
    assert split_numbers("D = 2,410 parameters; shape (1347, 64)")[1] == ["2,410", "1347", "64"]


def code_cell(source, checks=None):
    cell = nbformat.v4.new_code_cell(source)
    if checks is not None:
        cell.metadata["checks"] = checks
    return cell


def test_tolerances_need_reasons_and_claims_need_the_claim_helper():
    tol = {"tolerance": {"rel": 0.02, "abs": 0.01, "why": "float32 training"}}
    assert parse_tolerance(code_cell("x", tol)) == Tolerance(0.02, 0.01, True)
    assert parse_tolerance(code_cell("claim(1 <= d90, 'd90 in range', d90)",
                                     {"claim": "d90 in range"})).ints is False
    assert parse_tolerance(code_cell("x")) == DEFAULT
    with pytest.raises(ValueError, match="why"):
        parse_tolerance(code_cell("x", {"tolerance": {"rel": 0.02}}))
    with pytest.raises(ValueError, match="claim"):
        parse_tolerance(code_cell("print(d90)", {"claim": "d90 is small"}))
    with pytest.raises(ValueError, match="claim"):  # a bare assert is not the learner-facing check
        parse_tolerance(code_cell("assert d90 < 9", {"claim": "d90 is small"}))


def test_old_markers_in_what_the_learner_reads_are_refused():
    with pytest.raises(ValueError, match="metadata"):
        parse_tolerance(code_cell("# NBVAL_TOLERANCE rel=0.02 abs=0.01: float32 training\nx"))
    with pytest.raises(ValueError, match="metadata"):
        find_quotes(notebook('d90 = 125<!-- quote sweep "d90 = (\\d+)" -->'))


def notebook(markdown, code_id="sweep", quotes=()):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(d90)"), nbformat.v4.new_markdown_cell(markdown)]
    nb.cells[0]["id"] = code_id
    if quotes:
        nb.cells[1].metadata["checks"] = {"quotes": list(quotes)}
    return nb


def test_prose_quotes_are_checked_against_the_run():
    quote = {"text": "so d90 = **125", "cell": "sweep", "regex": "d90 = (\\d+)", "abs": 30}
    (parsed,) = find_quotes(notebook("so d90 = **125** here", quotes=[quote]))
    assert parsed.value == "125" and parsed.abs == 30
    assert parsed.check("d90 = 150", DEFAULT) is None
    assert "printed 200" in parsed.check("d90 = 200", DEFAULT)
    assert "finds nothing" in parsed.check("nothing here", DEFAULT)
    with pytest.raises(ValueError, match="existing cell id"):
        find_quotes(notebook("d90 = 125", quotes=[dict(quote, text="d90 = 125", cell="missing")]))
    with pytest.raises(ValueError, match="appears in"):  # the prose changed under the quote
        find_quotes(notebook("d90 = 130 here", quotes=[dict(quote, text="d90 = 125")]))
