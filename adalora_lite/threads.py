"""Run the small experiments on one thread.

The networks in notebooks 02-06 are tiny (matrices of at most 1347 x 64): a second thread never
pays for itself, and on a busy 2-core machine threads that wait for each other made the same loop
up to ten times slower. One thread also makes every run reproducible to the last bit.
"""
from contextlib import contextmanager


@contextmanager
def single_thread():
    """Limit BLAS (NumPy's and torch's) and torch's intra-op pool to one thread, then restore.

    Also a decorator: `@single_thread()`.
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
