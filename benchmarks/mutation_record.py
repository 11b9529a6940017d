"""Write benchmarks/results/mutation.json from mutmut's work directory (mutants/, after a run).

    heavy .venv/bin/mutmut run --max-children 1      # configured in setup.cfg [mutmut]
    .venv/bin/python benchmarks/mutation_record.py

Per module: killed, survived, timeout, no tests, total, and the surviving mutants' names (each is
killed by a test or listed as an equivalent mutant in benchmarks/README.md, "Mutation testing").
A timeout counts as killed, as mutmut's own score does (the mutant made the tests hang).
"""
import json
import platform
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "heavy .venv/bin/mutmut run --max-children 1  (config: setup.cfg [mutmut])"
HISTORY = ("a full run of the 901 mutants left 130 alive (771 killed, 85.6 %); after "
           "tests/test_mutation_kills.py, `mutmut run --max-children 1 NAME...` re-ran those (and the "
           "mutants of a function changed since); these counts are mutants/'s state after that")


def main():
    modules, survivors = {}, {}
    for meta in sorted((ROOT / "mutants" / "adalora_lite").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(status_by_exit_code[c] for c in codes.values())
        if not codes:
            continue
        modules[module] = {"killed": counts["killed"] + counts["timeout"], "total": len(codes),
                           "survived": counts["survived"], "timeout": counts["timeout"],
                           "no tests": counts["no tests"], "not checked": counts["not checked"],
                           "other": len(codes) - sum(counts[k] for k in
                                                     ("killed", "timeout", "survived", "no tests",
                                                      "not checked"))}
        survivors[module] = sorted(k for k, c in codes.items() if status_by_exit_code[c] == "survived")
    killed = sum(m["killed"] for m in modules.values())
    total = sum(m["total"] for m in modules.values())
    record = {
        "command": COMMAND,
        "history": HISTORY,
        "tests": "setup.cfg [mutmut] pytest_add_cli_args_test_selection (unit tests only, no notebooks)",
        "mutmut_version": version("mutmut"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores "
                   f"shared, Python {platform.python_version()}, torch {version('torch')}",
        "overall": {"killed": killed, "total": total, "score": round(killed / total, 4) if total else None},
        "modules": modules,
        "survivors": survivors,
    }
    out = ROOT / "benchmarks" / "results" / "mutation.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{killed}/{total} killed ({100 * killed / total:.1f} %) -> {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
