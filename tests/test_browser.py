"""The budget dashboard in a real browser: JupyterLab + headless Chromium, driven by Playwright.

Unit tests call the widget callbacks directly; this test shows that a student who opens notebook
06 in JupyterLab sees the bars change when a slider moves. It runs a copy of the notebook (the
repository's file is never touched), reads the bars from the page's SVG by their colour, and saves
screenshots under artifacts/browser/. Every server it starts is stopped.

No step sleeps for a fixed time: each waits for a state of the page (the kernel idle after Run
All, a slider handle ready for the mouse, both figures drawn for the step the slider reads), with
timeouts sized for a busy machine (the notebooks running alongside). A figure that never follows
its slider is a bug, not slowness: plotly's own widget front-end went deaf that way on a busy
machine (see adalora_lite/widgets/figure.py); `settle` then fails saying what the page shows.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from adalora_lite.viz.budget import KEPT, MASKED

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "06_budget.ipynb"
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(command, ready_path, root):
    """Run a Jupyter server `command` (with {port}) on a free loopback port until the block ends."""
    port = free_port()
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([a.format(port=port) for a in command], cwd=root, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 90
            while True:
                try:
                    urllib.request.urlopen(url + ready_path, timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        pytest.fail(f"server did not start:\n{log_path.read_text()}")
                    time.sleep(0.5)
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebook 06 without its outputs (so all that the page shows
    comes from this run; the repository's file is never touched)."""
    import nbformat

    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / NOTEBOOK.name)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               "--port={port}", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    with serve(command, f"/api/status?token={TOKEN}", root) as url:
        yield f"{url}/lab/tree/{NOTEBOOK.name}?token={TOKEN}"


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
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(lab)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.get_by_text("| Idle").wait_for(timeout=90_000)  # the kernel is connected
    run_all(page)
    try:
        page.wait_for_selector(".adalora-dashboard .js-plotly-plot .trace.bars", timeout=300_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "0_failure.png"))
        errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        pytest.fail(f"the dashboard never drew its bars; stderr in the page: {errors}")
    wait_for_kernel_done(page)  # a slider move sent earlier would queue behind the training cells
    page.locator(".adalora-dashboard").scroll_into_view_if_needed()
    yield page
    page.close()


def run_all(page, tries=3):
    """Run > Run All Cells, again if no cell started (a click can land before the kernel listens)."""
    started = ("() => Array.from(document.querySelectorAll('.jp-InputPrompt'))"
               ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))")
    for _ in range(tries):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        try:
            page.wait_for_function(started, timeout=30_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    pytest.fail("JupyterLab never started running the notebook")


def wait_for_kernel_done(page, timeout=600):
    """Wait until Run All has finished: no cell waiting or running ([*]) and the kernel idle."""
    done = ("() => !Array.from(document.querySelectorAll('.jp-InputPrompt'))"
            "        .some(p => p.textContent.includes('*'))"
            "  && /\\|\\s*Idle/.test("
            "        document.querySelector('#jp-main-statusbar')?.textContent || '')")
    try:
        page.wait_for_function(done, timeout=timeout * 1000, polling=500)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "0_failure.png"))
        pytest.fail(f"JupyterLab did not finish running the notebook within {timeout} s")


def bars(page):
    """{"kept": n, "masked": n}: bars drawn in each colour in the dashboard's lambda figure."""
    fills = page.evaluate("""() => {
        const plot = document.querySelector('.adalora-dashboard .js-plotly-plot');
        return Array.from(plot.querySelectorAll('.trace.bars .point path'))
            .filter(p => (p.getAttribute('d') || '') !== 'M0,0Z')
            .map(p => p.style.fill);
    }""")
    return {"kept": fills.count(rgb(KEPT)), "masked": fills.count(rgb(MASKED))}


def title_counts(page):
    """The kept/masked numbers the figure's title states (the dashboard writes them per step)."""
    text = page.locator(".adalora-dashboard .js-plotly-plot .gtitle").first.text_content()
    kept, masked = re.search(r"(\d+) kept, (\d+) masked", text).groups()
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


def shown(page):
    """What the page shows: the step slider's readout, the lambda figure's title and bars, and the
    step the rank figure marks (its "step t" trace, as plotly holds it on the page)."""
    try:
        return {"readout": readout(page, "adalora-step"),
                "title": page.locator(".adalora-dashboard .js-plotly-plot .gtitle").first
                             .text_content(timeout=5_000),
                "bars": bars(page),
                "rank_step": page.evaluate("""() => {
                    const plot = document.querySelectorAll('.adalora-dashboard .js-plotly-plot')[1];
                    const marker = (plot && plot.data || []).find(t => t.name === 'step t');
                    return marker ? Number(Array.from(marker.x)[0]) : null;
                }""")}
    except Exception as error:  # mid-redraw: an element missing for a moment
        return {"error": str(error).splitlines()[0]}


def drawn(sample):
    """Both figures are completely drawn for the step the slider reads: the lambda figure's title
    names that step and its bars of each colour are as many as the title states (title and bars
    change in one update, so a half-applied update fails this), and the rank figure marks it."""
    if "error" in sample:
        return False
    step = re.search(r"Step t = (\d+) of", sample["title"] or "")
    counts = re.search(r"(\d+) kept, (\d+) masked", sample["title"] or "")
    return (step is not None and counts is not None and int(step.group(1)) == sample["readout"]
            and sample["bars"] == {"kept": int(counts.group(1)), "masked": int(counts.group(2))}
            and sample["rank_step"] == sample["readout"])


def settle(page, expect_changed_from=None, timeout=120):
    """Wait until the figures are completely drawn for the step the slider reads (`drawn`), two
    samples 0.5 s apart agree, and the lambda bars differ from `expect_changed_from` (if given).
    Returns the bar counts; fails with what the page showed if that does not happen in time."""
    deadline, last, now = time.time() + timeout, None, None
    while time.time() < deadline:
        now = shown(page)
        if (drawn(now) and now == last and now["bars"] != expect_changed_from):
            return now["bars"]
        last = now
        time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "0_failure.png"))
    pytest.fail(f"the figures did not settle on the slider's step within {timeout} s "
                f"(bars to differ from {expect_changed_from}); the page shows {now}")


def snapshot(page, name):
    page.locator(".adalora-dashboard .js-plotly-plot").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / name))


def test_step_and_budget_sliders_redraw_the_masked_bars(page):
    if page.get_by_role("button", name="No", exact=True).is_visible():
        page.get_by_role("button", name="No", exact=True).click()  # JupyterLab's news prompt
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
        assert "import" not in page.inner_text("body")  # sources stripped
        assert page.locator(".adalora-schedule-panel .js-plotly-plot").count() == 1
        end = settle(page)
        assert end == title_counts(page) and end["masked"] > 0
        drag_to_start(page, "adalora-step")  # the presenter drags t back to 0 with the mouse
        assert readout(page, "adalora-step") == 0
        assert settle(page, expect_changed_from=end) == {"kept": end["kept"] + end["masked"],
                                                         "masked": 0}
        snapshot(page, "5_classroom_step_0.png")
        page.close()
