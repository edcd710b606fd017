"""Stage 6, results: the immutable FitResult (fit), the formula fit MixedFit with lme4's accessors
(mixedfit), one summary formatter (summary), Satterthwaite, anova and profiles (inference), prediction
(predict), plots.
"""
from .._moved import forward

__getattr__ = forward(__name__)     # the old fastmme.results module's names, with a DeprecationWarning
