"""Numba and threading settings in one place (stumpy's habit): every kernel takes its flags from here.

Numba's OpenMP workers spin after a parallel region and then compete for the cores with OpenBLAS's
threads inside CHOLMOD and LAPACK (measured on InstEval: 44.5 ms per evaluation spinning, 28.8 ms
passive).  A passive wait policy is set unless the user chose one; it must precede libgomp's start.
OpenBLAS's own threads spin for about 2^28 cycles after a LAPACK call (dpotrf, dpotri) and slow the
Numba kernels that follow (InstEval, evaluation with gradient: 70 → 52 ms per call); a timeout of 2^4
cycles is set unless the user chose one.  Both take effect only if fastmme is imported before numpy.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

NUMBA_CACHE = os.environ.get("FASTMME_NUMBA_CACHE", "1") != "0"
JIT = dict(cache=NUMBA_CACHE, nogil=True)

# The θ loop of the Schur evaluator makes many small LAPACK/BLAS calls (S of order m, the AI
# matrix's products): with S up to this order they run on one BLAS thread.  Waking OpenBLAS's threads
# for each call cost more than the call when the other core was busy (measured on this 2-core
# machine with one core taken: InstEval 3-term fit 2.78 → 0.79 s, a maximal 2³ model 22.9 → 9.4 s,
# a 704 × 72 product 22 ms → 0.17 ms); the large dense S of a 10⁸-row crossed design keeps them all.
SINGLE_BLAS_THREAD_M = 4000

# Index arrays of our own kernels are 32-bit while they can be (half the memory) and 64-bit beyond;
# the limit is a setting so that tests can force the 64-bit path on small data.
INDEX32_LIMIT = 2**31


def index_dtype(largest: int):
    """np.int32 when every index stays below INDEX32_LIMIT, else np.int64."""
    import numpy as np
    return np.int32 if largest < INDEX32_LIMIT else np.int64

RANK_TOL = 1e-7   # lme4's default tolerance for dropping aliased fixed-effect columns (spec, sparse_fixed)
