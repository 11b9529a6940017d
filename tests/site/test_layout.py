"""The layout tells the architecture: a small core at the package root, importable with NumPy
alone; the course in sub-packages; no module over 400 lines; no import cycle; no library module
reads the repository checkout."""
import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import adalora_lite

PACKAGE = Path(adalora_lite.__file__).parent
CORE = {"__init__", "errors", "schedule", "scoring", "regularizer", "allocator", "tracking", "counting",
        "recording"}
SUBPACKAGES = {"reference", "nn", "data", "labs", "results", "viz", "widgets", "exercises"}
TOPICS = {"rank", "intrinsic", "lora", "svd", "importance", "budget", "transformer", "analysis",
          "miniature", "planted_transformer"}


def test_the_package_root_holds_only_the_core_and_the_subpackages():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert modules <= CORE and {"allocator", "scoring", "schedule", "regularizer"} <= modules
    assert packages == SUBPACKAGES


def test_labs_has_a_module_per_topic_named_like_viz_widgets_and_exercises():
    labs = {m.name for m in pkgutil.iter_modules([str(PACKAGE / "labs")])}
    assert TOPICS | {"digits", "common"} <= labs  # and beside them, one module per further idea
    for sub in ("viz", "widgets", "exercises"):
        names = {m.name for m in pkgutil.iter_modules([str(PACKAGE / sub)])}
        shared = {"style", "panel", "figure", "diagrams", "feedback", "solutions", "solutions_torch",
                  "write_it", "build", "claims"}
        assert names - shared <= TOPICS, sub


def test_the_core_imports_and_runs_with_numpy_alone():
    code = """
import sys
sys.modules["torch"] = None  # any `import torch` now fails
import numpy as np
import adalora_lite
from adalora_lite import RankAllocator, reference
rng = np.random.default_rng(0)
w = [rng.normal(size=(6, 4)), rng.normal(size=(3, 6))]
model = reference.MLP(w, [np.zeros(6), np.zeros(3)], r=2, alpha=2, rng=0)
alloc = RankAllocator(model.layers, target_budget=2, total_steps=6, warmup_steps=1, final_steps=1)
x, y = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
for t in range(1, 7):
    reference.train_step(model, x, y, lr=0.1, gamma=0.1, allocator=alloc, step=t)
assert sum(alloc.ranks().values()) == 2
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_no_library_module_reads_the_checkout():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"parents\[\d\]|benchmarks/results|sys\.path", text), path


def test_no_module_is_over_400_lines():  # one idea per file: a longer module holds several
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def import_graph():
    """{module: the package's modules it imports}, module-level and function-level imports alike."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                targets |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_cycle_not_even_through_a_function_level_import():
    graph, done, path = import_graph(), set(), []

    def walk(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            walk(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        walk(module)
