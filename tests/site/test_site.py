"""The course website (`bash dev.sh site`) in a real browser: headless Chromium, driven by Playwright.

The site is built from the executed notebooks into a temporary folder and served on a loopback port.
Every page is opened; on each: no console or page errors, no request leaves 127.0.0.1, every plotly
output of the notebook drawn as an interactive figure, the maths typeset by MathJax (no TeX left in
the visible text), no widget's text repr, and every link resolving. A small synthetic notebook pins
the constructs the notebooks use (and a few they may use later). Screenshots go to artifacts/site/.
The build itself is checked to be incremental: a second build rewrites nothing, and changing one
notebook rewrites its page only.
"""
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BUILDER = ROOT / "tools" / "build_site.py"
ARTIFACTS = ROOT / "artifacts" / "site"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
COURSE = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if re.fullmatch(r"\d\d_.*", p.stem))
COURSE += ["classroom.ipynb"] if (NOTEBOOKS / "classroom.ipynb").exists() else []

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason="needs Debian's chromium (bash dev.sh test installs it as root)")

# TeX that MathJax should have consumed: a $...$ span, or a backslash command in visible text.
LEFT_TEX = re.compile(r"\$[^$\n]+\$|\\[A-Za-z]{2,}|\\[|{}]")

VISIBLE_TEXT = """() => {
    const skip = 'script, style, code, pre, .highlight, .MJX_Assistive_MathML';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const texts = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (parent && !parent.closest(skip) && node.textContent.trim()) texts.push(node.textContent);
    }
    return texts;
}"""

# figures drawn at a readable size (a plot area collapsed to a few pixels counts as not drawn)
FIGURES_DRAWN = """() => Array.from(document.querySelectorAll('.site-plotly'))
    .filter(div => div.classList.contains('js-plotly-plot') && div.querySelector('svg.main-svg')
                   && div.getBoundingClientRect().height > 150)
    .length"""


def build_cli(out, notebooks=NOTEBOOKS):
    """Run the builder as dev.sh does; returns its report line's counts (written, unchanged)."""
    done = subprocess.run([sys.executable, str(BUILDER), "--out", str(out), "--notebooks", str(notebooks)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    written, unchanged = re.search(r"(\d+) written, (\d+) unchanged", done.stdout).groups()
    return int(written), int(unchanged)


@functools.cache
def builder():
    """tools/build_site.py as a module (tools/ is not a package), to build without a new process."""
    spec = importlib.util.spec_from_file_location("build_site", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(out, notebooks):
    report = builder().build(out, notebooks, log=lambda *_: None)
    return len(report["built"]), len(report["skipped"])


def plotly_outputs(nb):
    return sum(PLOTLY_MIME in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


def widget_reprs(nb):
    return [out["data"].get("text/plain", "") for cell in nb.cells for out in cell.get("outputs", [])
            if WIDGET_MIME in out.get("data", {})]


def has_maths(nb):
    return any(c.cell_type == "markdown" and "$" in c.source for c in nb.cells)


def synthetic_notebook():
    """TeX constructs the course uses (and \\operatorname, which it may), a plotly figure, a live
    widget with a stored static figure, one without, a tqdm bar, and a coloured stream."""
    figure = {"data": [{"type": "bar", "x": [1, 2, 3], "y": [3, 1, 2]}], "layout": {"title": {"text": "bars"}}}
    cell = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(
            "# 99 · Maths check: $x$ and $\\mathbb{R}$\n\n"
            "Inline $x \\in \\mathbb{R}^{d\\times r}$, $\\|W\\|_F$, $\\lvert\\lambda_i\\rvert$, "
            "$\\operatorname{rank}(W) \\le r$, $\\text{top-}b(t)$, $\\bar I\\cdot\\bar U$ and "
            "$\\tfrac{\\alpha}{r}$; a dollar escaped: \\$5.\n\n"
            "$$h = W_0 x + \\frac{\\alpha}{r}\\, B A\\, x, \\qquad\n"
            "\\mathcal{T}(\\tilde\\Lambda_k, S_k)_{ii} = \\begin{cases}\\tilde\\Lambda_{k,ii} & S_{k,i} "
            "\\text{ kept}\\\\ 0 & \\text{otherwise.}\\end{cases}$$"),
        cell("fig.show()", outputs=[nbformat.v4.new_output("display_data", data={PLOTLY_MIME: figure})]),
        cell("panel", outputs=[nbformat.v4.new_output("execute_result", execution_count=2, data={
            WIDGET_MIME: {"model_id": "a", "version_major": 2, "version_minor": 0},
            PLOTLY_MIME: figure, "text/plain": "StaticPanel(r=4)"})]),
        cell("dash", outputs=[nbformat.v4.new_output("execute_result", execution_count=3, data={
            WIDGET_MIME: {"model_id": "b", "version_major": 2, "version_minor": 0},
            "text/plain": "BudgetDashboard(r=8, step=300)"})]),
        cell("run()", outputs=[
            nbformat.v4.new_output("display_data", data={
                WIDGET_MIME: {"model_id": "c", "version_major": 2, "version_minor": 0},
                "text/plain": "training runs:   0%|          | 0/15 [00:00<?, ?it/s]"}),
            nbformat.v4.new_output("stream", name="stdout", text="\x1b[31mred\x1b[0m done\n")]),
    ])
    return nb


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site of the real notebooks, plus the synthetic page, in one temporary folder."""
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    written, _ = build_cli(out)
    seconds = time.perf_counter() - start
    assert written == len(COURSE) + 1, f"{written} pages written for {len(COURSE)} notebooks + index"
    assert seconds < 120, f"a full build took {seconds:.0f} s"
    extra = tmp_path_factory.mktemp("synthetic")
    nbformat.write(synthetic_notebook(), extra / "99_maths_check.ipynb")
    build(out / "synthetic", extra)
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright: a browser context shared by the pages."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # one context for all pages: plotly.js and MathJax are parsed once, then come from the cache
        yield browser.new_context(viewport={"width": 1300, "height": 900})
        browser.close()


@contextmanager
def checked_page(browser, url, site_dir, figures, maths):
    """The page loaded with its maths typeset and `figures` plotly figures drawn, checked by
    `check_page` (including the problems seen while loading it: console errors, page errors, failed
    or outside requests), then closed when the block ends."""
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

    def loopback_only(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            problems.append(f"outside request: {route.request.url}")
            route.abort()

    page.route("**/*", loopback_only)
    page.goto(url, wait_until="load")
    page.wait_for_selector("html[data-math='typeset']", state="attached", timeout=60_000)
    try:
        page.wait_for_function(f"() => ({FIGURES_DRAWN})() >= {figures}", timeout=30_000)
    except Exception:
        pass  # the count is asserted by check_page, with the numbers
    try:
        check_page(page, problems, site_dir, figures, maths)
        yield page
    finally:
        page.close()


def check_page(page, problems, site_dir, figures, maths):
    """Assertions shared by every page."""
    assert problems == []
    assert page.locator(".js-plotly-plot").count() == figures
    assert page.evaluate(FIGURES_DRAWN) == figures
    left = [t for t in page.evaluate(VISIBLE_TEXT) if LEFT_TEX.search(t)]
    assert left == [], f"TeX left untypeset: {left[:5]}"
    assert page.locator(".MathJax_Error, .noError, .merror").count() == 0
    if maths:
        assert page.locator(".MathJax").count() > 0
    for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))"):
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc, f"link out of the site: {href}"
        if parts.path:
            assert (site_dir / parts.path).is_file(), f"broken link {href}"
        elif parts.fragment:
            found = page.evaluate("f => !!(document.getElementById(f) || "
                                  "document.getElementById(decodeURIComponent(f)))", parts.fragment)
            assert found, f"broken anchor {href}"


# --- tests -------------------------------------------------------------------------------------

@needs_chromium
@pytest.mark.parametrize("name", COURSE)
def test_notebook_page(name, site, server, browser):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    html_name = name.replace(".ipynb", ".html")
    figures = plotly_outputs(nb)
    with checked_page(browser, f"{server}/{html_name}", site, figures, has_maths(nb)) as page:
        text = page.inner_text("body")
        for widget in widget_reprs(nb):
            assert widget.strip() not in text, f"a widget's text repr is shown: {widget!r}"
        if any(not re.search(r"\d+%\|", w) for w in widget_reprs(nb)):
            assert "bash dev.sh classroom" in text
        i = COURSE.index(name)
        links = page.eval_on_selector_all(".site-nav a", "as => as.map(a => a.getAttribute('href'))")
        assert "index.html" in links
        if i > 0:
            assert COURSE[i - 1].replace(".ipynb", ".html") in links
        if i + 1 < len(COURSE):
            assert COURSE[i + 1].replace(".ipynb", ".html") in links
        if name.startswith("04_"):  # maths and figures on one screen
            page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
            page.mouse.wheel(0, -350)
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / "04_lora_vs_svd.png"))


@needs_chromium
def test_landing_page_lists_the_course_in_order(site, server, browser):
    with checked_page(browser, f"{server}/index.html", site, 0, maths=True) as page:
        links = page.eval_on_selector_all(".site-toc a", "as => as.map(a => a.getAttribute('href'))")
        assert links == [n.replace(".ipynb", ".html") for n in COURSE]
        summaries = page.locator(".site-summary").all_inner_texts()
        assert all(s.strip() for s in summaries[:-1])  # every numbered notebook says what it teaches
        page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)


@needs_chromium
def test_synthetic_page_typesets_and_draws_everything(site, server, browser):
    with checked_page(browser, f"{server}/synthetic/99_maths_check.html", site / "synthetic", 2,
                      maths=True) as page:
        # 2 formulas in the title, 7 inline in the paragraph, 1 displayed
        assert page.locator(".MathJax").count() == 10
        assert page.locator(".MathJax_Display").count() == 1
        text = page.inner_text("body")
        assert "$5" in text  # an escaped dollar stays a dollar
        assert "StaticPanel(" not in text and "BudgetDashboard(" not in text and "0%|" not in text
        assert text.count("bash dev.sh classroom") == 2
        assert "red done" in text and "\x1b" not in page.content()
        # interactive: hovering a bar shows plotly's hover label
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        drag = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        page.mouse.move(drag["x"] + drag["width"] / 2, drag["y"] + drag["height"] * 0.9)
        page.wait_for_selector(".js-plotly-plot .hoverlayer .hovertext", timeout=5_000)


def test_second_build_is_incremental(tmp_path):
    """Nothing is rewritten when nothing changed; a changed notebook rewrites its page only."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in COURSE[:3]:
        shutil.copy2(NOTEBOOKS / name, notebooks / name)
    out = tmp_path / "site"
    assert build(out, notebooks) == (4, 0)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.html")}
    assert build(out, notebooks) == (0, 3)
    nb = nbformat.read(notebooks / COURSE[1], as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("One more paragraph."))
    nbformat.write(nb, notebooks / COURSE[1])
    assert build(out, notebooks) == (1, 2)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.html")}
    changed = sorted(n for n in after if after[n] != before[n])
    assert changed == [COURSE[1].replace(".ipynb", ".html")]
    assert "One more paragraph." in (out / changed[0]).read_text()
    stamps = json.loads((out / ".stamps.json").read_text())
    assert set(stamps) == {"_static", *(n.replace(".ipynb", ".html") for n in COURSE[:3])}
