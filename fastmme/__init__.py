"""fastmme: linear mixed models by sparse mixed-model equations.

Fit y = Xβ + Σ_k Z_k b_k + ε by Henderson's mixed-model equations (dimension p + q) with CHOLMOD,
never forming the n × n marginal covariance; lme4's parametrisation and results.
"""
from . import config  # noqa: F401  (thread settings: before numpy loads OpenBLAS)
from . import _moved, datasets
from .api import Model, blup, fit, glmm, lmm
from .breeding import genomic, pedigree
from .breeding import simulate as breeding_data
from .errors import ConvergenceWarning, FastmmeError, FastmmeWarning, RankDeficiencyWarning
from .formula.random_terms import FormulaError
from .results import plots
from .results.fit import FitResult
from .results.mixedfit import MixedFit, anova
from .spec.relationship import KnownCovariance, known_covariance
from .spec.terms import Term
from .testing import dense

simulate = _moved.Simulate()

__all__ = ["lmm", "glmm", "blup", "anova", "simulate", "breeding_data", "known_covariance", "KnownCovariance", "Model", "fit", "Term", "FitResult", "MixedFit", "dense", "datasets", "pedigree", "genomic",
           "FastmmeError", "FormulaError", "FastmmeWarning", "ConvergenceWarning", "RankDeficiencyWarning"]
__version__ = "0.1.0"

_moved.install()                    # the old module paths (fastmme.objective, …) and the public aliases
__getattr__ = _moved.module_attribute
