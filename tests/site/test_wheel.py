"""Installable without the repo: build a wheel, install it (not editable) into a temporary
directory, and from outside the checkout import every module and load every recorded result."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, pkgutil, sys
from pathlib import Path
import adalora_lite
site = Path(sys.argv[1]).resolve()
assert Path(adalora_lite.__file__).resolve().is_relative_to(site), adalora_lite.__file__
names = [m.name for m in pkgutil.walk_packages(adalora_lite.__path__, "adalora_lite.")]
for name in names:
    importlib.import_module(name)
from adalora_lite import results
from adalora_lite.labs.analysis import load_init_results
from adalora_lite.labs.transformer import load_loop_orders, load_results
for name in results.FILES:
    data = results.load(name)
    assert data["meta"] and all(data.values()), name  # a record: its meta and its results
assert load_results()[1] and load_init_results()[1] and load_loop_orders()
print(len(names), "modules")
"""


def test_wheel_installs_and_works_without_the_repo(tmp_path):
    src = tmp_path / "src"  # a copy: building in place would write build/ into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "adalora_lite", src / "adalora_lite",
                    ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
                          str(src)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("adalora_lite-*.whl")
    site = tmp_path / "site"
    subprocess.run(pip + ["install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, cwd=tmp_path)
    run = tmp_path / "elsewhere"
    run.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path),
           "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", CHECK, str(site)], capture_output=True, text=True,
                         cwd=run, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "modules" in out.stdout
