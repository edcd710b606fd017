"""The project's own exception and warning types.

Every message says what is wrong and what to change.
"""


class FastmmeError(ValueError):
    """Bad input or a model that cannot be fitted; the message says what to change."""


class NotPositiveDefinite(FastmmeError):
    """The mixed-model equations are not numerically positive definite at a θ (an evaluation failed);
    the one failure the optimiser's fallbacks exist for."""


class FastmmeWarning(UserWarning):
    """Base class of fastmme's warnings."""


class RankDeficiencyWarning(FastmmeWarning):
    """Fixed-effect columns were aliased and dropped (as lme4 does)."""


class ConvergenceWarning(FastmmeWarning):
    """The optimiser stopped before meeting its convergence criteria."""
