"""Stage 2, the model specification: Term (a grouping factor, its columns, its covariance structure
and Λ algebra), known covariances K (relationship), sparse fixed factors, the checks in-memory and Dask
input share (checks) and the validated ModelSpec (model_spec: aliased columns, the working response).
"""
from .._moved import forward

__getattr__ = forward(__name__)     # the old fastmme.spec module's names, with a DeprecationWarning
