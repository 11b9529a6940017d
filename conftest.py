"""Session setup for every path pytest may be given (tests/, notebooks/, one notebook).

It lives at the repository root so that `pytest notebooks/03_lora.ipynb` loads it too. nbval starts
each notebook's kernel from this process, so the kernels inherit the environment set here.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def notebook_env():
    """KEY=VALUE lines of notebook.env (the one place the kernel environment is written)."""
    lines = (ROOT / "notebook.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


os.environ.update(notebook_env())

pytest_plugins = ["tests.nbval_numeric"]  # nbval comparing within stated tolerances
