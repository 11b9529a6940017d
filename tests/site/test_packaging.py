"""The project's set-up files agree with each other.

pyproject.toml is the source of truth; environment.yml (conda) must list the same packages with
compatible versions; README's Quick start has exactly the two set-up commands, and CI runs the test one.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]

# conda-forge name -> PyPI name, where they differ
CONDA_ALIASES = {"pytorch": "torch"}
# conda entries that are tools, not project dependencies
CONDA_ONLY = {"pip"}

SETUP_COMMANDS = ["bash dev.sh lab", "bash dev.sh test"]


def normalize(name):
    name = canonicalize_name(name)  # case, and runs of - _ . become -
    return CONDA_ALIASES.get(name, name)


def merge(table, name, spec):
    table[name] = table.get(name, SpecifierSet()) & SpecifierSet(spec)


def pyproject_requirements(text):
    project = tomllib.loads(text)["project"]
    reqs = {"python": SpecifierSet(project["requires-python"])}
    extras = project.get("optional-dependencies", {}).values()
    for line in [*project["dependencies"], *(r for extra in extras for r in extra)]:
        req = Requirement(line)
        merge(reqs, normalize(req.name), str(req.specifier))
    return reqs


def parse_conda_spec(line):
    """'numpy>=2.0', 'numpy >=2.0,<3', 'numpy=2.1' (conda fuzzy: 2.1.*) -> (name, SpecifierSet)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*", line)
    assert match, f"cannot read conda spec {line!r}"
    name, spec = match.groups()
    spec = spec.replace(" ", "")
    if re.fullmatch(r"=[^=].*", spec):
        spec = "=" + spec + ("" if spec.endswith("*") else ".*")
    return name, spec


def environment_requirements(text):
    env = yaml.safe_load(text)
    reqs = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for line in entry.get("pip", []):
                if line.lstrip().startswith("-"):  # pip options such as `-e .`
                    continue
                req = Requirement(line)
                merge(reqs, normalize(req.name), str(req.specifier))
        else:
            name, spec = parse_conda_spec(entry)
            if canonicalize_name(name) not in CONDA_ONLY:
                merge(reqs, normalize(name), spec)
    return reqs


def contradictions(name, py_spec, env_spec):
    """Ways in which the two constraints on one package disagree (empty: they agree)."""
    problems = []
    if bool(py_spec) != bool(env_spec):
        problems.append(f"{name}: constrained on one side only ({py_spec!s} vs {env_spec!s})")
        return problems
    py_low = {s.version for s in py_spec if s.operator == ">="}
    env_low = {s.version for s in env_spec if s.operator == ">="}
    if py_low and env_low and py_low != env_low:
        problems.append(f"{name}: lower bounds differ ({py_spec!s} vs {env_spec!s})")
    for this, other in ((env_spec, py_spec), (py_spec, env_spec)):
        for s in this:
            if s.operator in ("==", "===") and "*" not in s.version:
                if not other.contains(s.version, prereleases=True):
                    problems.append(f"{name}: pin {s!s} is outside {other!s}")
    return problems


def compare(py_reqs, env_reqs):
    problems = []
    for name in sorted(py_reqs.keys() - env_reqs.keys()):
        problems.append(f"{name}: in pyproject.toml, missing from environment.yml")
    for name in sorted(env_reqs.keys() - py_reqs.keys()):
        problems.append(f"{name}: in environment.yml, missing from pyproject.toml")
    for name in sorted(py_reqs.keys() & env_reqs.keys()):
        problems += contradictions(name, py_reqs[name], env_reqs[name])
    return problems


def quick_start_commands(readme):
    """The commands in README's Quick start section, one list per ```bash block."""
    section = re.search(r"^## Quick start\s*$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README.md has no '## Quick start' section"
    blocks = re.findall(r"^```bash\s*\n(.*?)^```", section.group(1), re.M | re.S)
    return [[ln.strip() for ln in b.splitlines() if ln.strip() and not ln.strip().startswith("#")]
            for b in blocks]


def script_commands(text):
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


# -- the real files ---------------------------------------------------------------------------


def test_environment_yml_matches_pyproject():
    py_reqs = pyproject_requirements((ROOT / "pyproject.toml").read_text())
    env_reqs = environment_requirements((ROOT / "environment.yml").read_text())
    assert compare(py_reqs, env_reqs) == []


def test_environment_is_named_and_uses_conda_forge():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "adalora-lite"
    assert env["channels"] == ["conda-forge"]


def test_readme_quick_start_has_exactly_the_two_setup_commands():
    blocks = quick_start_commands((ROOT / "README.md").read_text())
    assert blocks == [[cmd] for cmd in SETUP_COMMANDS]


def test_ci_runs_the_readme_test_command():
    blocks = quick_start_commands((ROOT / "README.md").read_text())
    test_commands = [cmd for block in blocks for cmd in block if cmd.endswith(" test")]
    assert len(test_commands) == 1, blocks
    assert test_commands[0] in script_commands((ROOT / ".ci" / "run").read_text())


# -- the checker itself can fail --------------------------------------------------------------

PYPROJECT = """
[project]
requires-python = ">=3.10"
dependencies = ["numpy>=2.0", "torch>=2.2", "tqdm"]
[project.optional-dependencies]
test = ["pytest"]
"""


@pytest.mark.parametrize(
    ("env_lines", "problem"),
    [
        (["python>=3.10", "numpy>=2.0", "pytorch>=2.2", "tqdm", "pytest"], None),
        (["python>=3.10", "numpy==2.1.0", "pytorch>=2.2", "tqdm", "pytest"], None),
        (["python>=3.10", "numpy=2.1", "pytorch>=2.2", "tqdm", "pytest"], None),
        (["python>=3.10", "numpy>=2.0", "pytorch>=2.2", "tqdm"], "pytest: in pyproject.toml, missing"),
        (["python>=3.10", "numpy>=2.0", "pytorch>=2.2", "tqdm", "pytest", "scipy"], "scipy: in environment.yml"),
        (["python>=3.10", "numpy>=1.26", "pytorch>=2.2", "tqdm", "pytest"], "numpy: lower bounds differ"),
        (["python>=3.10", "numpy==1.26.4", "pytorch>=2.2", "tqdm", "pytest"], "numpy: pin ==1.26.4"),
        (["python>=3.10", "numpy", "pytorch>=2.2", "tqdm", "pytest"], "numpy: constrained on one side"),
        (["python>=3.9", "numpy>=2.0", "pytorch>=2.2", "tqdm", "pytest"], "python: lower bounds differ"),
        (["python>=3.10", "numpy>=2.0", "torch>=2.2", "TQDM", "pytest"], None),
    ],
)
def test_compare_finds_disagreements(env_lines, problem):
    env_text = yaml.safe_dump({"name": "x", "dependencies": ["pip", *env_lines, {"pip": ["-e ."]}]})
    problems = compare(pyproject_requirements(PYPROJECT), environment_requirements(env_text))
    if problem is None:
        assert problems == []
    else:
        assert any(p.startswith(problem) for p in problems), problems


def test_quick_start_parser_sees_extra_commands():
    readme = "# x\n## Quick start\n```bash\nbash dev.sh lab\n```\n```bash\npip install x\nbash dev.sh test\n```\n## Next\n"
    assert quick_start_commands(readme) == [["bash dev.sh lab"], ["pip install x", "bash dev.sh test"]]


@pytest.mark.parametrize(("switch", "expected"), [(None, ""), ("0", ""),
                                                 ("1", "--index-url https://download.pytorch.org/whl/cpu")])
def test_cpu_only_torch_is_opt_in(switch, expected):
    # Run dev.sh's own lines that choose torch's index: off unless TORCH_CPU=1 (CI reaches only PyPI).
    lines = re.search(r"^TORCH_INDEX=\(\)\n.*?^fi\n", (ROOT / "dev.sh").read_text(), re.S | re.M)
    env = {"PATH": os.environ["PATH"]} | ({"TORCH_CPU": switch} if switch is not None else {})
    out = subprocess.run(["bash", "-c", lines.group(0) + 'echo "${TORCH_INDEX[*]}"'], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected
    assert "TORCH_CPU=1" in (ROOT / "README.md").read_text()
