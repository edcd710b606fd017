"""How many Numba threads the kernels of a fit run on.

A parallel kernel wakes Numba's threads at every call; a small problem's kernels are shorter than that
(sleepstudy: level_factors took 170 µs a call on two threads).  The parallel loops split work between
levels or column panels, never within one sum, so one thread gives the same numbers.
"""
from __future__ import annotations

import contextlib

import numba

# rows × (random-effect columns + fixed columns) at or below which a linear mixed model's kernels run on
# one thread: sleepstudy's 500 bootstrap refits 3.5 → 1.9 s per 200; InstEval (3.7 × 10⁵) was 8 %
# faster on two threads, so it keeps them
LMM_SERIAL_SIZE = 10**5


@contextlib.contextmanager
def serial_kernels(size: int, limit: int):
    """One Numba thread while the block runs if size ≤ limit, else the threads as they are set."""
    before = numba.get_num_threads()
    if size <= limit:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def lmm_kernel_threads(spec):
    """serial_kernels for a linear mixed model's spec (fastmme.spec.model_spec.ModelSpec)."""
    width = sum(t.r for t in spec.terms) + len(spec.sparse_factors) + spec.p
    return serial_kernels(spec.n * width, LMM_SERIAL_SIZE)
