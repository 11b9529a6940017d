"""labs/common.py: single_thread() (one thread inside, the old settings back outside), the one cache."""
import torch
from threadpoolctl import threadpool_info

from adalora_lite.labs.common import single_thread


def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_single_thread_limits_and_restores():
    before, blas_before = torch.get_num_threads(), blas_threads()
    with single_thread():
        assert torch.get_num_threads() == 1
        assert all(n == 1 for n in blas_threads())
    assert torch.get_num_threads() == before and blas_threads() == blas_before


def test_single_thread_without_torch_limits_blas_only():
    before, blas_before = torch.get_num_threads(), blas_threads()
    with single_thread(torch=False):
        assert torch.get_num_threads() == before
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == blas_before


def test_single_thread_as_a_decorator():
    @single_thread()
    def threads():
        return torch.get_num_threads()

    assert threads() == 1 and threads() == 1  # a fresh context on every call


def test_memoize_keys_hold_their_arguments_so_they_cannot_collide():
    import gc

    from adalora_lite.labs.common import memoize

    class Task:  # hashed by identity, like the labs' tasks
        pass

    calls = []

    @memoize(maxsize=4, ignore=("progress",))
    def work(task, k=1, *, progress=True):
        calls.append(task)
        return object()

    first = work(Task(), k=2)  # the only reference to this Task is now the cache key
    gc.collect()
    other = work(Task(), k=2)  # a new object: even were id() reused, the key differs
    assert first is not other and len(calls) == 2
    same = calls[0]
    assert work(same, k=2, progress=False) is first  # progress is not part of the key
    assert work.cache_info() == {"hits": 1, "misses": 2, "size": 2}
    for k in range(10):
        work(same, k=k)
    assert work.cache_info()["size"] == 4
    work.cache_clear()
    assert work.cache_info() == {"hits": 0, "misses": 0, "size": 0}


def test_the_numpy_notebooks_never_import_torch():
    """Notebooks 04-06 use only the NumPy side: their labs, exercises, solutions and figures load and
    run without torch, whose import costs every kernel's start about 1.3 s (single_thread(torch=False),
    solutions_torch.py apart from solutions.py). Their widgets are left out here: importing plotly's
    FigureWidget costs this test about 5 s, and they import no torch of their own."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from adalora_lite.labs import budget, importance, svd\n"
            "from adalora_lite.labs.digits import mirrored_digits_task\n"
            "from adalora_lite.exercises import build, solutions, write_it\n"
            "from adalora_lite.exercises import budget as b, importance as i, svd as s\n"
            "from adalora_lite.viz import budget as vb, importance as vi, svd as vs\n"
            "mirrored_digits_task(hidden=4)\n"
            "build.truncate_or_reference(None)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = done.stdout.strip().splitlines()[-1]  # after what the checkers print
    assert loaded == "[]", f"torch was imported: {loaded[:300]}"
