"""Stage 5, optimisation: the θ loop of a fit (driver), Newton with the AI matrix, L-BFGS-B and BOBYQA
and the certificate (minimize), start values (start), θ in units free of the covariates' scale
(theta_scale), EM steps (em).
"""
from .._moved import forward

__getattr__ = forward(__name__)     # the old fastmme.optimize module's names, with a DeprecationWarning
