"""Checkers for the notebooks' "try it" exercises: each says whether an answer is right, and why."""
from .claims import ClaimFailed, claim  # noqa: F401  (the notebooks' one-line check of a stated result)
