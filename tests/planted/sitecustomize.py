"""Plants the bug named by PLANTED_BUG in the notebook kernels that pytest (nbval) starts with this
directory on PYTHONPATH: see tests/planted/bugs.py. The pytest process itself runs no course code,
so it is left alone (it would only pay for the imports)."""
import os
import sys

if os.environ.get("PLANTED_BUG") and "pytest" not in getattr(sys, "orig_argv", sys.argv):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bugs

    bugs.plant(os.environ["PLANTED_BUG"])
