"""The replay dashboards in a real browser: JupyterLab and Voila + headless Chromium, via Playwright.

Unit tests call the widget callbacks directly; these tests show that a student who opens notebook
06 (the planted-rank dashboard) or notebook 07's MiniLM replay in JupyterLab, or the classroom page
in Voila, sees the bars change when a slider moves. They run copies of the notebooks (the
repository's files are never touched), read the bars from the page's SVG by their colour, and save
screenshots under artifacts/browser/. Every server they start is stopped.

No step sleeps for a fixed time: each waits for a state of the page (the kernel idle after Run
All, a slider handle ready for the mouse, both figures drawn for the step the slider reads), with
timeouts sized for a busy machine (the notebooks running alongside). A figure that never follows
its slider is a bug, not slowness: plotly's own widget front-end went deaf that way on a busy
machine (see adalora_lite/widgets/figure.py); `settle` then fails saying what the page shows.
"""
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from adalora_lite.viz.budget import KEPT, MASKED
from tests import jupyter_browser
from tests.jupyter_browser import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "06_budget.ipynb"
REPLAY_NOTEBOOK = ROOT / "notebooks" / "07_adalora_transformer.ipynb"
REPLAY_CELLS = ("replay-summary", "replay-panel")  # notebook 07's replay section, run on its own
REPLAY_COPY = "07_replay.ipynb"
CLASSROOM = ROOT / "notebooks" / "classroom.ipynb"
ARTIFACTS = ROOT / "artifacts" / "browser"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "adalora-browser-test"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs Debian's chromium (bash dev.sh test installs it as root)")


def rgb(hex_colour):
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebook 06 and of notebook 07's replay section, without their
    outputs (so all that the page shows comes from this run; the repository's files are never
    touched). Yields the server's base URL."""
    import nbformat

    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / NOTEBOOK.name)
    nbformat.write(replay_copy(), root / REPLAY_COPY)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               "--port={port}", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    with serve(command, f"/api/status?token={TOKEN}", root) as url:
        yield url


def replay_copy():
    """Notebook 07's replay section (its own cells, found by id) after the imports it needs: the
    rest of 07 trains MiniLM for minutes and is tested under nbval."""
    import nbformat

    source = nbformat.read(REPLAY_NOTEBOOK, as_version=4)
    cells = [c for c in source.cells if c.get("id") in REPLAY_CELLS]
    assert [c["id"] for c in cells] == list(REPLAY_CELLS), "notebook 07 lost its replay cells"
    imports = nbformat.v4.new_code_cell("import numpy as np\n"
                                        "from adalora_lite.labs import transformer as ft\n"
                                        "from adalora_lite.widgets.transformer import RankReplayPanel")
    for cell in cells:
        cell.outputs, cell.execution_count = [], None
    return nbformat.v4.new_notebook(cells=[imports, *cells], metadata=source.metadata)


def open_notebook(browser, url, name, scope):
    return jupyter_browser.open_notebook(browser, url, TOKEN, name, scope,
                                         failure_screenshot=ARTIFACTS / "0_failure.png")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (one per module: Playwright's sync API
    allows a single running instance)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(lab, browser):
    page = open_notebook(browser, lab, NOTEBOOK.name, "adalora-dashboard")
    yield page
    page.close()


@pytest.fixture(scope="module")
def replay_page(lab, browser):
    page = open_notebook(browser, lab, REPLAY_COPY, "adalora-replay")
    yield page
    page.close()


@dataclass(frozen=True)
class View:
    """A replay panel on the page: its CSS class and its step slider's."""
    scope: str
    step_css: str


DASHBOARD = View("adalora-dashboard", "adalora-step")  # notebook 06: the planted-rank dashboard
REPLAY = View("adalora-replay", "adalora-replay-step")  # notebook 07: MiniLM's ranks forming

# What a panel's figures show, as plotly holds them on the page: the fills of the bars drawn in the
# figure with "kept" and "masked" traces, and its title; every figure's title; the step that the
# figure with a "step t" marker marks.
SHOWN_JS = """(scope) => {
    const plots = Array.from(document.querySelectorAll(`.${scope} .js-plotly-plot`));
    const named = (p, name) => (p.data || []).find(t => t.name === name);
    const title = p => (p && p.querySelector('.gtitle')?.textContent) || '';
    const bars = plots.find(p => named(p, 'masked'));
    const marker = plots.map(p => named(p, 'step t')).find(t => t);
    return {
        fills: bars ? Array.from(bars.querySelectorAll('.trace.bars .point path'))
            .filter(p => (p.getAttribute('d') || '') !== 'M0,0Z').map(p => p.style.fill) : [],
        title: title(bars),
        titles: plots.map(title),
        marker_step: marker && marker.x && marker.x.length ? Number(Array.from(marker.x)[0]) : null,
    };
}"""


def title_counts(page, view=DASHBOARD):
    """The kept/masked numbers the bar figure's title states (the panels write them per step)."""
    title = page.evaluate(SHOWN_JS, view.scope)["title"]
    kept, masked = re.search(r"(\d+) kept, (\d+) masked", title).groups()
    return {"kept": int(kept), "masked": int(masked)}


def slider(page, css):
    return page.locator(f".{css} .noUi-handle").first


def drag_to_start(page, css):
    """Drag a slider's handle with the mouse past the left end of its track. hover() scrolls the
    handle into view and waits until it is visible, stable and the element the mouse would hit;
    the coordinates are read after that (a layout shift before it would make them stale)."""
    handle = slider(page, css)
    handle.hover(timeout=60_000)
    box = handle.bounding_box()
    track = page.locator(f".{css} .noUi-target").first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] - 20, y, steps=10)
    page.mouse.up()


def readout(page, css):
    return int(page.locator(f".{css} .widget-readout").first.inner_text())


def shown(page, view=DASHBOARD):
    """What the page shows: the step slider's readout, the bar figure's title and bars (counted by
    colour), every figure's title, and the step the "step t" marker marks."""
    try:
        sample = page.evaluate(SHOWN_JS, view.scope)
        fills = sample.pop("fills")
        return {"readout": readout(page, view.step_css), **sample,
                "bars": {"kept": fills.count(rgb(KEPT)), "masked": fills.count(rgb(MASKED))}}
    except Exception as error:  # mid-redraw: an element missing for a moment
        return {"error": str(error).splitlines()[0]}


def drawn(sample):
    """Every figure is completely drawn for the step the slider reads: each title that names a step
    names that one, the bars of each colour are as many as the bar figure's title states (title
    and bars change in one update, so a half-applied update fails this), and the marker marks it."""
    if "error" in sample:
        return False
    steps = [int(m.group(1)) for t in sample["titles"] for m in [re.search(r"[Ss]tep t = (\d+)", t)] if m]
    counts = re.search(r"(\d+) kept, (\d+) masked", sample["title"])
    return (len(steps) > 0 and all(step == sample["readout"] for step in steps) and counts is not None
            and sample["bars"] == {"kept": int(counts.group(1)), "masked": int(counts.group(2))}
            and sample["marker_step"] == sample["readout"])


def settle(page, expect_changed_from=None, timeout=120, view=DASHBOARD):
    """Wait until the figures are completely drawn for the step the slider reads (`drawn`), two
    samples 0.5 s apart agree, and the bars differ from `expect_changed_from` (if given). Returns
    the bar counts; fails with what the page showed if that does not happen in time."""
    deadline, last, now = time.time() + timeout, None, None
    while time.time() < deadline:
        now = shown(page, view)
        if (drawn(now) and now == last and now["bars"] != expect_changed_from):
            return now["bars"]
        last = now
        time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "0_failure.png"))
    pytest.fail(f"the figures did not settle on the slider's step within {timeout} s "
                f"(bars to differ from {expect_changed_from}); the page shows {now}")


def snapshot(page, name, view=DASHBOARD):
    page.locator(f".{view.scope} .js-plotly-plot").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / name))


def test_step_and_budget_sliders_redraw_the_masked_bars(page):
    before = settle(page)
    slider(page, "adalora-step").focus()
    page.keyboard.press("End")  # the last step: the final allocation
    end = settle(page, expect_changed_from=before) if before["masked"] == 0 else settle(page)
    budget = readout(page, "adalora-target-budget")
    snapshot(page, "1_final_step.png")
    assert readout(page, "adalora-step") > 0
    assert end["kept"] == budget and end["masked"] > 0  # exactly the target budget survives
    assert end == title_counts(page)

    page.keyboard.press("Home")  # step 0: warm-up, nothing masked yet
    warm = settle(page, expect_changed_from=end)
    snapshot(page, "2_step_0.png")
    assert readout(page, "adalora-step") == 0
    assert warm == {"kept": end["kept"] + end["masked"], "masked": 0}
    assert warm == title_counts(page)

    page.keyboard.press("End")
    assert settle(page, expect_changed_from=warm) == end

    slider(page, "adalora-target-budget").focus()
    page.keyboard.press("ArrowRight")  # one more triplet allowed: a new run is recorded
    more = settle(page, expect_changed_from=end, timeout=120)
    snapshot(page, "3_budget_plus_one.png")
    assert readout(page, "adalora-target-budget") == budget + 1
    assert more == {"kept": end["kept"] + 1, "masked": end["masked"] - 1}
    assert more == title_counts(page)


def test_minilm_replay_step_slider_and_matrix_menu_redraw_the_bars(replay_page):
    from adalora_lite.labs.transformer import load_rank_replay

    page, replay = replay_page, load_rank_replay()
    end = settle(page, view=REPLAY)  # it opens at the last step, on the matrix pruned hardest
    snapshot(page, "6_replay_final_step.png", REPLAY)
    assert readout(page, REPLAY.step_css) == replay.n_steps
    assert end["masked"] > 0 and end["kept"] + end["masked"] == replay.init_r
    assert end == title_counts(page, REPLAY)

    slider(page, REPLAY.step_css).focus()
    page.keyboard.press("Home")  # step 0: nothing masked yet
    start = settle(page, expect_changed_from=end, view=REPLAY)
    snapshot(page, "7_replay_step_0.png", REPLAY)
    assert readout(page, REPLAY.step_css) == 0 and start == {"kept": replay.init_r, "masked": 0}
    page.keyboard.press("End")
    assert settle(page, expect_changed_from=start, view=REPLAY) == end

    final = replay.ranks(replay.n_steps)
    names = replay.recording.layer_names  # the adapted matrices, in the menu's order
    full = next(name for name in names if final[name] == replay.init_r)  # kept everything
    menu = page.locator(".adalora-replay-matrix select")
    menu.select_option(index=names.index(full))
    label = menu.locator("option:checked").inner_text().replace("\xa0", " ")  # e.g. "W_f1 of layer 1"
    assert settle(page, expect_changed_from=end, view=REPLAY) == {"kept": replay.init_r, "masked": 0}
    assert shown(page, REPLAY)["title"].startswith(f"{label} at step t = {replay.n_steps}")


def test_classroom_mode_serves_the_dashboards_with_code_hidden(tmp_path, browser):
    """What `bash dev.sh classroom` serves: Voila, offline, no code on screen, sliders live."""
    shutil.copy(CLASSROOM, tmp_path / CLASSROOM.name)
    command = [sys.executable, "-m", "voila", CLASSROOM.name, "--no-browser", "--port={port}",
               "--Voila.ip=127.0.0.1", "--theme=light"]
    with serve(command, "/", tmp_path) as url:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url, timeout=300_000)  # Voila runs the notebook before it answers
        page.wait_for_selector(".adalora-dashboard .js-plotly-plot .trace.bars", timeout=120_000)
        snapshot(page, "4_classroom.png")
        body = page.inner_text("body")
        assert not re.search(r"\bimport\b", body)  # sources stripped ("importance" is prose)
        assert page.locator(".adalora-schedule-panel .js-plotly-plot").count() == 1
        assert page.locator(".adalora-importance-panel .js-plotly-plot").count() == 2  # beta panel
        assert page.locator(".adalora-importance-panel .adalora-beta1").count() == 1
        assert body.count("Question for the room") == page.locator("details").count() == 5
        end = settle(page)
        assert end == title_counts(page) and end["masked"] > 0
        drag_to_start(page, "adalora-step")  # the presenter drags t back to 0 with the mouse
        assert readout(page, "adalora-step") == 0
        assert settle(page, expect_changed_from=end) == {"kept": end["kept"] + end["masked"],
                                                         "masked": 0}
        snapshot(page, "5_classroom_step_0.png")

        replay_end = settle(page, view=REPLAY)  # MiniLM's replay, below the dashboard
        assert replay_end == title_counts(page, REPLAY) and replay_end["masked"] > 0
        drag_to_start(page, REPLAY.step_css)
        assert readout(page, REPLAY.step_css) == 0
        assert settle(page, expect_changed_from=replay_end, view=REPLAY) == {
            "kept": replay_end["kept"] + replay_end["masked"], "masked": 0}
        snapshot(page, "8_classroom_replay_step_0.png", REPLAY)
        page.close()
