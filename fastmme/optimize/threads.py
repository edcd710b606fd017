"""How many Numba threads the kernels of a fit run on.

A parallel kernel wakes Numba's threads at every call; a small problem's kernels are shorter than that
(sleepstudy: level_factors took 170 µs a call on two threads).  The parallel loops split work between
levels or column panels, never within one sum, so one thread gives the same numbers.
"""
from __future__ import annotations

import contextlib

import numba

# rows × (random-effect columns + fixed columns)² at or below which a linear mixed model's kernels run on
# one thread (the θ loop's work per level grows with the square of its columns).  Measured in pairs of
# fits on the 2-core machine, whose noise is about 15 %: sleepstudy (2,880) its bootstrap's 200 refits
# 3.4 → 1.2 s on one thread; maximal 2² models (2.6 × 10⁵) 0.52–1.12 s on one, 0.59–1.21 s on two;
# maximal 2³ (1.0 × 10⁶) 12.4–12.5 s on two, 14.2–14.7 s on one; InstEval (1.8 × 10⁶) 0.47 s on two,
# 0.51 s on one: the larger ones keep both threads, as before
LMM_SERIAL_SIZE = 5 * 10**5


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
    return serial_kernels(spec.n * width * width, LMM_SERIAL_SIZE)
