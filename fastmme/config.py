"""Numba settings in one place (stumpy's habit): every kernel takes its flags from here."""
import os

NUMBA_CACHE = os.environ.get("FASTMME_NUMBA_CACHE", "1") != "0"
JIT = dict(cache=NUMBA_CACHE, nogil=True)
