"""Checkers for the notebooks' "try it" exercises: each says whether an answer is right, and why."""
