"""single_thread(): one thread for torch and BLAS inside, the old settings back outside."""
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


def test_single_thread_as_a_decorator():
    @single_thread()
    def threads():
        return torch.get_num_threads()

    assert threads() == 1 and threads() == 1  # a fresh context on every call
