"""Stage 3, assembly: the frozen ZᵀWZ pattern (pattern, the sole owner of the block layout) and the one
pass over the rows for ZᵀWZ, ZᵀWX, ZᵀWy, XᵀWX, … (blocks: Blocks in memory, PartialBlocks for
partitions).
"""
from .._moved import forward

__getattr__ = forward(__name__)     # the old fastmme.assembly module's names, with a DeprecationWarning
