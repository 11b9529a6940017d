"""adalora_lite.viz.intrinsic: the figures draw the sweep, the references and d90."""
import pytest

from adalora_lite.labs.intrinsic import SweepResult
from adalora_lite.viz.intrinsic import (intrinsic_dimension_figure, relative_sweeps_figure,
                                        truncated_update_figure)


@pytest.fixture
def sweep():
    return SweepResult([5, 10, 50, 100], [0.3, 0.6, 0.9, 0.95], 0.96, 2410)


def test_sweep_figure_marks_full_accuracy_threshold_and_d90(sweep):
    fig = intrinsic_dimension_figure(sweep)
    assert list(fig.data[0].x) == [5, 10, 50, 100] and list(fig.data[0].y) == [0.3, 0.6, 0.9, 0.95]
    hlines = [s.y0 for s in fig.layout.shapes if s.y0 == s.y1]
    assert 0.96 in hlines and pytest.approx(0.864) in hlines
    d90_line = fig.data[1]  # a trace, so that it sits at d = 50 on the log axis
    assert list(d90_line.x) == [50, 50] and d90_line.name == "d90 = 50"
    assert all(s.x0 is None or s.xref.endswith("domain") or s.xref == "paper" for s in fig.layout.shapes)
    assert any("2,410" in a.text for a in fig.layout.annotations)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text and fig.layout.title.text


def test_sweep_figure_without_d90_draws_no_vertical_line():
    fig = intrinsic_dimension_figure(SweepResult([1, 2], [0.1, 0.2], 0.9, 10))
    assert len(fig.data) == 1 and all(s.y0 == s.y1 for s in fig.layout.shapes)


def test_relative_sweeps_normalise_each_curve(sweep):
    other = SweepResult([5, 10], [0.4, 0.8], 0.8, 100)
    fig = relative_sweeps_figure({"a": sweep, "b": other})
    assert fig.data[1].y[-1] == pytest.approx(1.0)
    assert fig.data[0].name == "a (d90 = 50)" and fig.data[1].name == "b (d90 = 10)"


def test_truncated_update_figure():
    fig = truncated_update_figure([0, 1, 4], [0.2, 0.5, 0.9], 0.95)
    assert list(fig.data[0].y) == [0.2, 0.5, 0.9]
    assert fig.layout.shapes[0].y0 == 0.95
