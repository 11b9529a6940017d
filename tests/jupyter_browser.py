"""For the browser tests (tests/site/test_browser.py) and the browser benchmark
(benchmarks/browser_latency.py): a Jupyter server (JupyterLab or Voila) on a free loopback port,
and a notebook run to the end in a JupyterLab page."""
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(command, ready_path, root, *, env=None, start_s=90):
    """Run `command` (a list; "{port}" in it becomes a free port) in `root` until the block ends;
    yields the server's URL once `ready_path` answers. Its log goes to root/server.log. On leaving,
    the server and every kernel it started are stopped (one process group)."""
    port = free_port()
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([a.format(port=port) for a in command], cwd=root, stdout=log,
                                  stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + start_s
            while True:
                try:
                    urllib.request.urlopen(url + ready_path, timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise RuntimeError(f"{command[:3]} did not start:\n{log_path.read_text()}")
                    time.sleep(0.5)
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


def open_notebook(browser, url, token, name, scope, *, failure_screenshot=None):
    """A JupyterLab page (a workspace of its own, so no other notebook is restored into it) with
    notebook `name` run to the end and the panel of CSS class `scope` drawn with its bars. On a
    failure the page is saved to `failure_screenshot` (if given) and RuntimeError says why."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})

    def fail(message):
        if failure_screenshot:
            page.screenshot(path=str(failure_screenshot))
        raise RuntimeError(message)

    page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.get_by_text("| Idle").wait_for(timeout=120_000)  # the kernel is connected
    started = ("() => Array.from(document.querySelectorAll('.jp-InputPrompt'))"
               ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))")
    for _ in range(3):  # Run > Run All Cells; a click can land before the kernel listens
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        try:
            page.wait_for_function(started, timeout=30_000)
            break
        except Exception:
            page.keyboard.press("Escape")
    else:
        fail("JupyterLab never started running the notebook")
    try:
        page.wait_for_selector(f".{scope} .js-plotly-plot .trace.bars", timeout=300_000)
    except Exception:
        errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        fail(f"{name}: the panel .{scope} never drew its bars; stderr in the page: {errors}")
    # Run All finished (no cell waiting or running, the kernel idle): a slider move sent earlier
    # would queue behind the running cells
    done = ("() => !Array.from(document.querySelectorAll('.jp-InputPrompt'))"
            ".some(p => p.textContent.includes('*'))"
            " && /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')")
    try:
        page.wait_for_function(done, timeout=600_000, polling=500)
    except Exception:
        fail(f"JupyterLab did not finish running {name} within 600 s")
    if page.get_by_role("button", name="No", exact=True).is_visible():
        page.get_by_role("button", name="No", exact=True).click()  # JupyterLab's news prompt
    page.locator(f".{scope}").scroll_into_view_if_needed()
    return page
