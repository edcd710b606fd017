"""Numba kernels: module-level pure functions on arrays, writing into output buffers."""
