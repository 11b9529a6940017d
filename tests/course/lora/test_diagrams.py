"""The shapes diagrams draw every matrix at its true shape and colour what the text says."""
import pytest

from adalora_lite.errors import ConfigError
from adalora_lite.viz.diagrams import MASKED, PICKED, lora_diagram, svd_diagram


def fills(fig):
    return [shape.fillcolor for shape in fig.layout.shapes]


def test_lora_diagram_draws_w0_b_and_a_at_their_shapes_with_one_doublet_highlighted():
    d_out, d_in, r = 6, 8, 2
    fig = lora_diagram(r=r, doublet=1, d_out=d_out, d_in=d_in)
    assert len(fig.layout.shapes) == d_out * d_in + d_out * r + r * d_in
    assert fills(fig).count(PICKED) == d_out + d_in  # B's column and A's row: one doublet
    assert "28 instead of d_out·d_in = 48" in " ".join(a.text for a in fig.layout.annotations)


def test_svd_diagram_masks_lambda_only_and_keeps_the_vectors():
    d_out, d_in, r = 6, 8, 3
    fig = svd_diagram(r=r, masked=(0, 2), d_out=d_out, d_in=d_in)
    assert len(fig.layout.shapes) == d_out * d_in + d_out * r + r * r + r * d_in
    assert fills(fig).count(MASKED) == 2  # two lambdas set to zero, nothing else removed
    assert fills(fig).count(PICKED) == 1  # the one kept lambda


@pytest.mark.parametrize("make, kwargs, word", [(lora_diagram, dict(r=2, doublet=2), "doublet"),
                                                (svd_diagram, dict(r=3, masked=(3,)), "masked")])
def test_an_index_outside_the_rank_is_refused_by_name(make, kwargs, word):
    with pytest.raises(ConfigError, match=rf"{word}.* must be in \[0, {kwargs['r'] - 1}\]"):
        make(**kwargs)
