"""How many numbers an adapter trains: the one parameter-count formula of the package.

    full   d_out d_in               every entry of W (d_out, d_in)
    lora   (d_out + d_in) r         B (d_out, r) and A (r, d_in)
    svd    (d_out + d_in + 1) r     P (d_out, r), lambda (r,) and Q (r, d_in)

A masked SVD triplet (P column, lambda, Q row) no longer counts: pass its layer's kept rank.
"""
from .errors import ConfigError, check_int

KINDS = ("full", "lora", "svd")


def parameter_count(d_out, d_in, r=0, kind="lora"):
    """Trainable numbers of one d_out x d_in matrix adapted as `kind` (KINDS) at rank `r`."""
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}")
    d_out, d_in = check_int("d_out", d_out, low=1), check_int("d_in", d_in, low=1)
    if kind == "full":
        return d_out * d_in
    r = check_int("r", r, low=0)
    return (d_out + d_in + (kind == "svd")) * r


def adapters_parameter_count(layers, ranks=None):
    """The sum of `parameter_count` over adapter layers ({name: layer}, NumPy or torch), each at
    `ranks[name]` (default: its rank r); a layer with a lambda counts as "svd", else "lora"."""
    ranks = ranks or {name: layer.r for name, layer in layers.items()}
    return sum(parameter_count(layer.d_out, layer.d_in, ranks[name],
                               "svd" if hasattr(layer, "lam") else "lora")
               for name, layer in layers.items())
