"""Stage 1, the formula: lme4's random terms split off (random_terms), the fixed part read as R reads it
(rsyntax, rtransforms) and encoded by formulaic (columns); a table becomes a Design (frame: the one NA
rule, the level sets, the messages).
"""
from .._moved import forward

__getattr__ = forward(__name__)     # the old fastmme.formula module's names, with a DeprecationWarning
