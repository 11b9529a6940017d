"""A Jupyter server (JupyterLab or Voila) on a free loopback port, for the browser tests
(tests/site/test_browser.py) and the browser benchmark (benchmarks/browser_latency.py)."""
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager


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
