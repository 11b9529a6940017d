"""What the labs share: one thread for the small experiments, read-only arrays, one cache, progress.

    single_thread()       BLAS and torch on one thread (a context manager and a decorator;
                          torch=False: BLAS only, for NumPy code)
    read_only(a)          a contiguous read-only copy of an array (what a cached task hands out)
    memoize(maxsize)      the one cache of the labs: least-recently-used, keyed on the arguments
    progress(items, show, desc)   a tqdm bar over `items` when `show`, the items alone otherwise

The networks in notebooks 02-06 are tiny (matrices of at most 1347 x 64): a second thread never
pays for itself, and on a busy 2-core machine threads that wait for each other made the same loop
up to ten times slower. One thread also makes every run reproducible to the last bit.
"""
import functools
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np


@contextmanager
def single_thread(*, torch=True):
    """Limit BLAS (NumPy's and torch's) and, with `torch`, torch's intra-op pool to one thread, then
    restore. NumPy-only code passes torch=False and never imports torch: notebooks 04-06 use no
    torch, and their kernels start about 1.3 s sooner without it (measured on this machine).

    Also a decorator: `@single_thread()`.
    """
    from threadpoolctl import threadpool_limits

    if torch:
        import torch as torch_module

        before = torch_module.get_num_threads()
        torch_module.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        if torch:
            torch_module.set_num_threads(before)


def read_only(a):
    """A contiguous copy of `a` that cannot be written to."""
    a = np.array(a)
    a.flags.writeable = False
    return a


def memoize(maxsize, *, ignore=()):
    """Decorator: remember the last `maxsize` results, keyed on the call's arguments.

    The key holds the arguments themselves, never their id(): an argument hashed by identity (a
    task, `eq=False`) is kept alive by the key, so a new object can never reuse an old key.
    Arguments named in `ignore` (a progress bar) do not enter the key. The wrapped function gets
    `.cache_info()` ({"hits", "misses", "size"}) and `.cache_clear()`.
    """
    def decorate(func):
        cache, stats = OrderedDict(), {"hits": 0, "misses": 0}

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = (args, tuple(sorted((k, v) for k, v in kwargs.items() if k not in ignore)))
            if key in cache:
                stats["hits"] += 1
                cache.move_to_end(key)
                return cache[key]
            stats["misses"] += 1
            value = cache[key] = func(*args, **kwargs)
            while len(cache) > maxsize:
                cache.popitem(last=False)
            return value

        wrapper.cache_info = lambda: dict(stats, size=len(cache))

        def cache_clear():
            cache.clear()
            stats.update(hits=0, misses=0)

        wrapper.cache_clear = cache_clear
        return wrapper
    return decorate


def progress(items, show, desc):
    """`items` wrapped in a tqdm bar titled `desc` when `show`, else unchanged."""
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc)


def minibatches(n, steps, batch_size, seed):
    """`steps` arrays of `batch_size` indices into n rows, reproducible (numpy's default_rng(seed)),
    without replacement within a batch: how every lab task draws its training batches."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n, batch_size, replace=False) for _ in range(steps)]
