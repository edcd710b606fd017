"""Linear algebra below every stage: the CHOLMOD adapter (cholmod: symbolic analysis once, numeric
refactorisation per θ, the memory guard) and the Numba kernels (kernels/: pure functions of arrays and
output buffers).
"""
