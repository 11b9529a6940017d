"""Write benchmarks/results/mutation.json from mutmut's work directory (mutants/, after a run).

    heavy .venv/bin/mutmut run --max-children 1      # configured in setup.cfg [mutmut]
    .venv/bin/python benchmarks/mutation_record.py

Per module: killed, survived, timeout, no tests, total, and the surviving mutants' names (each is
killed by a test or listed as an equivalent mutant in benchmarks/README.md, "Mutation testing").
A timeout counts as killed, as mutmut's own score does (the mutant made the tests hang). The file
carries the project's one stamp (machine, UTC date of writing, command: `recording.save`) and the
UTC time mutants/ was last written (`mutants_state`: when mutmut finished).
"""
import datetime
import json
import sys
from collections import Counter
from importlib.metadata import version
from pathlib import Path

from mutmut.stats import status_by_exit_code

from adalora_lite import recording

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "heavy .venv/bin/mutmut run --max-children 1  (config: setup.cfg [mutmut])"
HISTORY = ("a full run of the 901 mutants left 130 alive (771 killed, 85.6 %); after "
           "tests/core/test_mutation_kills.py, `mutmut run --max-children 1 NAME...` re-ran those (and the "
           "mutants of a function changed since); these counts are mutants/'s state after that")


def main():
    modules, survivors = {}, {}
    metas = sorted((ROOT / "mutants" / "adalora_lite").rglob("*.py.meta"))
    for meta_file in metas:
        module = str(meta_file.relative_to(ROOT / "mutants")).removesuffix(".meta")
        codes = json.loads(meta_file.read_text())["exit_code_by_key"]
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
    last_written = max(meta_file.stat().st_mtime for meta_file in metas)
    meta = {"mutmut_command": COMMAND, "history": HISTORY,
            "tests": "setup.cfg [mutmut] pytest_add_cli_args_test_selection (unit tests only, no notebooks)",
            "mutmut_version": version("mutmut"),
            "mutants_state": datetime.datetime.fromtimestamp(last_written, datetime.timezone.utc)
            .isoformat(timespec="seconds")}
    content = {"overall": {"killed": killed, "total": total,
                           "score": round(killed / total, 4) if total else None},
               "modules": modules, "survivors": survivors}
    out = ROOT / "benchmarks" / "results" / "mutation.json"
    recording.save(out, content, command="python benchmarks/mutation_record.py", meta=meta)
    print(f"{killed}/{total} killed ({100 * killed / total:.1f} %) -> {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
