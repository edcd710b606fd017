"""The checks and messages that in-memory and partitioned (Dask) input share: one wording each, so that
the same bad data get the same message whichever path reads them (fastmme.formula.frame, fastmme.spec,
fastmme.distributed.partitioned).  Each function raises FastmmeError (or warns) with what to change."""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import FastmmeError, RankDeficiencyWarning


def no_complete_rows() -> FastmmeError:
    """The error for data in which every row misses a value the model uses."""
    return FastmmeError("every row has a missing value in a column the model uses: check how missing values are "
                        "coded and which columns the formula names")


def check_enough_rows(n: int, p: int) -> None:
    """More observations than fixed effects (n > p), or an error."""
    if n <= p:
        raise FastmmeError(f"{n} observations for {p} fixed effects: need more observations "
                           "than fixed-effect columns")


def check_weights(w: np.ndarray, where: str = "") -> None:
    """Prior weights positive and finite, or an error (where: e.g. " in a partition")."""
    bad = ~(w > 0) | ~np.isfinite(w)
    if np.any(bad):
        raise FastmmeError(f"weights must be positive and finite; {int(np.sum(bad))} are zero, negative or infinite"
                           f"{where} — drop those observations instead of giving them weight 0")


def warn_aliased(dropped, stacklevel: int = 3) -> None:
    """The RankDeficiencyWarning for fixed-effect columns dropped as aliased (lme4's message)."""
    if dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient: dropping {len(dropped)} column(s) "
                      f"{', '.join(dropped)} (aliased with the others); their effects are not estimable",
                      RankDeficiencyWarning, stacklevel=stacklevel + 1)
