"""fastmme: linear mixed models by sparse mixed-model equations.

Fit y = Xβ + Σ_k Z_k b_k + ε by Henderson's mixed-model equations (dimension p + q) with CHOLMOD,
never forming the n × n marginal covariance; lme4's parametrisation and results.
"""
from . import config  # noqa: F401  (thread settings: before numpy loads OpenBLAS)
from . import datasets, dense, genomic, pedigree
from .api import Model, blup, fit, lmm
from .errors import ConvergenceWarning, FastmmeError, FastmmeWarning, RankDeficiencyWarning
from .formula import FormulaError
from .mixedfit import MixedFit, anova
from .relationship import KnownCovariance, known_covariance
from .results import FitResult
from .terms import Term

__all__ = ["lmm", "blup", "anova", "known_covariance", "KnownCovariance", "Model", "fit", "Term", "FitResult", "MixedFit", "dense", "datasets", "pedigree", "genomic",
           "FastmmeError", "FormulaError", "FastmmeWarning", "ConvergenceWarning", "RankDeficiencyWarning"]
__version__ = "0.1.0"
