"""What a learner feels: from a step-slider key press to the redrawn figure, in a real browser.

    heavy .venv/bin/python benchmarks/browser_latency.py [--moves 25]

JupyterLab serves copies of notebook 06 (the planted-rank dashboard) and of notebook 07's replay
section (its import cell and its replay cells), in a temporary folder with notebook.env's
environment (offline). Debian's Chromium, headless, driven by Playwright, runs each to the end,
moves the step slider to its last step, then presses ArrowLeft `--moves` times, waiting for each
move's redraw and a pause before the next. The page times every move itself (`performance.now()`
timebase): from the keydown event's timestamp to the moment a MutationObserver sees every figure
title that names a step name the step the slider reads (both of 06's figures, 07's two), and to
the animation frame after it (when the browser paints). The Python side of 06's move alone
(`dashboard_latency.py`) is about 2-10 ms: the rest is widget messages and plotly.js.

Recorded in benchmarks/results/browser_latency.json: every move's milliseconds, median and p95
per dashboard, the load average before and after, and the processes that used the CPU just
before the measurement. The goal (issue 20): p95 <= 100 ms. A benchmark, not a timed test.
"""
import os
import shutil
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import timing

sys.path.insert(0, str(timing.ROOT))  # the repository, for tests/jupyter_browser.py
from tests.jupyter_browser import open_notebook, serve  # noqa: E402

NAME = "browser_latency"
GOAL_P95_MS = 100
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "adalora-latency-benchmark"
NOTEBOOKS = timing.ROOT / "notebooks"
# dashboard -> (notebook copy, CSS class of its panel, CSS class of its step slider)
DASHBOARDS = {"06 planted-rank dashboard": ("06_budget.ipynb", "adalora-dashboard", "adalora-step"),
              "07 MiniLM replay": ("07_replay.ipynb", "adalora-replay", "adalora-replay-step")}
REPLAY_CELLS = ("replay-summary", "replay-panel")  # notebook 07's replay section, by cell id

# In the page: timestamps of key presses, and of every change of the panel's step-naming titles.
OBSERVE_JS = """(scope) => {
    const root = document.querySelector('.' + scope);
    const steps = () => Array.from(root.querySelectorAll('.js-plotly-plot .gtitle'))
        .map(t => (t.textContent.match(/[Ss]tep t = (\\d+)/) || [])[1]).filter(s => s !== undefined)
        .map(Number);
    const log = window.__latency = {presses: [], changes: [], steps};
    document.addEventListener('keydown', e => log.presses.push(e.timeStamp), true);
    let last = steps().join();
    new MutationObserver(() => {
        const now = steps();
        if (now.join() === last) return;
        last = now.join();
        const change = {dom: performance.now(), steps: now, frame: null};
        log.changes.push(change);
        requestAnimationFrame(() => { change.frame = performance.now(); });
    }).observe(root, {subtree: true, childList: true, characterData: true});
}"""
READOUT_JS = "(slider) => Number(document.querySelector(`.${slider} .widget-readout`).textContent)"
# Every step-naming title names the step the slider reads (whenever that happened).
SHOWS_READOUT_JS = """(slider) => {
    const readout = (%s)(slider), steps = window.__latency.steps();
    return steps.length > 0 && steps.every(s => s === readout);
}""" % READOUT_JS
# The first change after change number `after` that made every step-naming title name the step
# the slider reads, once its frame was painted: {press, dom, frame, readout} (null until then).
REDRAWN_JS = """([slider, after]) => {
    const readout = (%s)(slider);
    const hit = window.__latency.changes.slice(after).find(
        c => c.steps.length > 0 && c.steps.every(s => s === readout) && c.frame !== null);
    return hit ? {readout, press: window.__latency.presses.at(-1), dom: hit.dom, frame: hit.frame} : null;
}""" % READOUT_JS


def notebook_copies(folder):
    """Notebook 06 and 07's replay section, outputs cleared, written into `folder`."""
    import nbformat

    def cleared(cells):
        for cell in cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        return cells

    budget = nbformat.read(NOTEBOOKS / "06_budget.ipynb", as_version=4)
    cleared(budget.cells)
    nbformat.write(budget, folder / "06_budget.ipynb")
    source = nbformat.read(NOTEBOOKS / "07_adalora_transformer.ipynb", as_version=4)
    imports = next(c for c in source.cells if c.cell_type == "code")
    replay = [c for c in source.cells if c.get("id") in REPLAY_CELLS]
    if [c["id"] for c in replay] != list(REPLAY_CELLS):
        sys.exit(f"notebook 07 lost its replay cells {REPLAY_CELLS}")
    nbformat.write(nbformat.v4.new_notebook(cells=cleared([imports, *replay]), metadata=source.metadata),
                   folder / "07_replay.ipynb")


def notebook_env():
    """os.environ with notebook.env's settings (offline Hugging Face, plotly's renderer, ...)."""
    env = dict(os.environ)
    for line in (timing.ROOT / "notebook.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


def jupyterlab(folder):
    """A JupyterLab server serving `folder` (tests/jupyter_browser.py, shared with the browser tests)."""
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               "--port={port}", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={folder}"]
    return serve(command, f"/api/status?token={TOKEN}", folder, env=notebook_env())


def time_moves(page, scope, slider, moves, pause_s):
    """Milliseconds from each ArrowLeft on the step slider to its redraw: [(dom, frame, step)]."""
    page.evaluate(OBSERVE_JS, scope)
    handle = page.locator(f".{slider} .noUi-handle").first
    handle.focus()
    page.keyboard.press("End")  # untimed: from the last step every timed move has room
    page.wait_for_function(SHOWS_READOUT_JS, arg=slider, timeout=60_000)
    time.sleep(pause_s)
    out = []
    for _ in range(moves):
        after = page.evaluate("() => window.__latency.changes.length")
        page.keyboard.press("ArrowLeft")
        hit = page.wait_for_function(REDRAWN_JS, arg=[slider, after], timeout=60_000,
                                     polling="raf").json_value()
        out.append((hit["dom"] - hit["press"], hit["frame"] - hit["press"], hit["readout"]))
        time.sleep(pause_s)  # a learner's pace: the next move starts after this one was seen
    return out


def busy_processes(seconds=2.0, threshold=5.0):
    """Processes above `threshold` % of one core over the next `seconds` ("command (percent)")."""
    def cpu_ticks():
        ticks = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                ticks[stat.parent.name] = int(fields[11]) + int(fields[12])
            except (OSError, IndexError):
                pass
        return ticks

    before = cpu_ticks()
    time.sleep(seconds)
    after, hz, busy = cpu_ticks(), os.sysconf("SC_CLK_TCK"), []
    for pid, ticks in after.items():
        percent = 100 * (ticks - before.get(pid, ticks)) / hz / seconds
        if percent >= threshold:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120].strip()
            except OSError:
                continue
            busy.append(f"{cmd} ({percent:.0f} %)")
    return busy


def add_arguments(parser):
    parser.add_argument("--moves", type=int, default=25, help="browser_latency: timed slider moves per dashboard")
    parser.add_argument("--pause", type=float, default=0.3, help="browser_latency: seconds between moves")


def run(args):
    if not os.path.exists(CHROMIUM):
        print(f"  skipped: no Chromium at {CHROMIUM} (Debian: apt-get install chromium)", file=sys.stderr)
        return
    from importlib.metadata import version

    from playwright.sync_api import sync_playwright

    meta = timing.start(NAME, moves=args.moves, pause_s=args.pause, goal_p95_ms=GOAL_P95_MS,
                        server=f"JupyterLab {version('jupyterlab')}, ipywidgets {version('ipywidgets')}, "
                               f"plotly {version('plotly')}")
    dashboards = {}
    with TemporaryDirectory() as tmp:
        notebook_copies(Path(tmp))
        with jupyterlab(Path(tmp)) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            meta["browser"] = f"Chromium {browser.version} (headless, Playwright {version('playwright')})"
            for name, (notebook, scope, slider) in DASHBOARDS.items():
                page = open_notebook(browser, url, TOKEN, notebook, scope)
                meta.setdefault("also_running", busy_processes())
                meta.setdefault("load_average_before_moves", timing.load_average())
                moves = time_moves(page, scope, slider, args.moves, args.pause)
                page.close()
                dom = [ms for ms, _, _ in moves]
                dashboards[name] = {"ms": timing.quantiles(dom), "raw_ms": dom,
                                    "to_next_frame_ms": timing.quantiles([f for _, f, _ in moves]),
                                    "raw_to_next_frame_ms": [f for _, f, _ in moves],
                                    "steps": [s for _, _, s in moves]}
                q = dashboards[name]["ms"]
                print(f"  {name}: median {q['median']:.1f} ms, p95 {q['p95']:.1f} ms over {q['n']} moves "
                      f"(goal p95 <= {GOAL_P95_MS} ms)", file=sys.stderr, flush=True)
            browser.close()
    timing.save(NAME, meta, {"dashboards": dashboards})


if __name__ == "__main__":
    timing.main(sys.modules[__name__])
