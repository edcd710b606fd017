"""lme4-style formulas: split the random-effects terms off, hand the fixed part to formulaic.

    y ~ x + (1 + x | g) + (1 | a/b) + (x || h) + (0 + f | a:b)

A random term is a parenthesised group with a top-level ``|`` (``||`` for uncorrelated effects).
Its left side is a model formula for the term's columns (``x`` means ``1 + x``, ``0 + x`` drops the
intercept, factors give dummy columns); its right side names the grouping factor: a column, an
interaction ``a:b`` of columns, or a nesting ``a/b`` that expands to ``a`` and ``b:a`` (lme4's names).
Everything else is the fixed part, read as R reads it (fastmme.formula.rsyntax) and encoded by formulaic.
Errors point at the offending part of the formula.  Tests: tests/test_formula.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FastmmeError


class FormulaError(FastmmeError):
    """A formula that cannot be used; the message shows where."""


def point_at(formula: str, start: int, end: int, message: str) -> FormulaError:
    """An error whose message shows the formula with the offending span underlined."""
    end = max(end, start + 1)
    return FormulaError(f"{message}\n  {formula}\n  {' ' * start}{'^' * (end - start)}")


@dataclass(frozen=True)
class RandomTerm:
    lhs: str            # formula of the term's columns, e.g. "1 + Days"
    group: str          # grouping expression, e.g. "Subject" or "batch:cask"
    diagonal: bool      # `||`: uncorrelated effects
    span: tuple         # (start, end) in the formula string

    @property
    def group_vars(self) -> list:
        return [v.strip() for v in self.group.split(":")]

    @property
    def label(self) -> str:
        return f"({self.lhs} {'||' if self.diagonal else '|'} {self.group})"


@dataclass(frozen=True)
class ParsedFormula:
    formula: str
    response: str
    fixed: str                 # right-hand side of the fixed part
    random: tuple              # RandomTerm, in formula order, nesting expanded

    @property
    def fixed_formula(self) -> str:
        return f"{self.response} ~ {self.fixed}"


def _check_parens(formula: str) -> None:
    depth, opened = 0, []
    for i, ch in enumerate(formula):
        if ch == "(":
            depth += 1
            opened.append(i)
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise point_at(formula, i, i + 1, "unbalanced parentheses: ')' without a matching '('")
            opened.pop()
    if depth:
        raise point_at(formula, opened[-1], opened[-1] + 1, "unbalanced parentheses: '(' is never closed")


def _split_top(text: str, offset: int, sep: str = "+"):
    """Split at top-level `sep`; yields (piece, start) with positions in the full formula."""
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            yield text[start:i], offset + start
            start = i + 1
    yield text[start:], offset + start


def _random_term(formula: str, piece: str, start: int):
    """A RandomTerm list if `piece` is a parenthesised group with a top-level bar, else None."""
    stripped = piece.strip()
    lead = len(piece) - len(piece.lstrip())
    if not (stripped.startswith("(") and stripped.endswith(")")):
        if "|" in stripped:
            s = start + lead + stripped.index("|")
            raise point_at(formula, s, s + 1, "a random-effects term must be in parentheses, e.g. (1 | g)")
        return None
    inner = stripped[1:-1]
    # the outer parentheses must enclose the whole piece
    depth = 0
    for ch in inner:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return None
    depth, bar = 0, None
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            bar = i
            break
    if bar is None:
        return None
    diagonal = bar + 1 < len(inner) and inner[bar + 1] == "|"
    lhs = inner[:bar].strip()
    rhs = inner[bar + (2 if diagonal else 1):].strip()
    s0 = start + lead
    span = (s0, s0 + len(stripped))
    if not lhs:
        raise point_at(formula, *span, "random-effects term has nothing left of '|': write (1 | g) for "
                       "a random intercept")
    if not rhs:
        raise point_at(formula, *span, "random-effects term has no grouping factor right of '|': "
                       "write (1 | g) with g a column of the data")
    if not re.fullmatch(r"[A-Za-z_.][\w.]*(\s*[:/]\s*[A-Za-z_.][\w.]*)*", rhs):
        raise point_at(formula, *span, f"grouping factor '{rhs}' must be a column name, an interaction "
                       "a:b or a nesting a/b of column names")
    if "/" in rhs:   # lme4: a/b/c is a + b:a + c:b:a (the inner factor named first)
        parts = [p.strip() for p in rhs.split("/")]
        groups = [":".join(reversed(parts[:i + 1])) for i in range(len(parts))]
    else:
        groups = [":".join(p.strip() for p in rhs.split(":"))]
    return [RandomTerm(lhs=lhs, group=g, diagonal=diagonal, span=span) for g in groups]


def parse(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part and random terms."""
    if not isinstance(formula, str):
        raise FormulaError(f"formula must be a string like 'y ~ x + (1 | g)'; got {type(formula).__name__}")
    _check_parens(formula)
    if formula.count("~") != 1:
        i = formula.find("~", formula.find("~") + 1) if "~" in formula else 0
        raise point_at(formula, max(i, 0), max(i, 0) + 1,
                       "a formula needs exactly one '~' between the response and the terms")
    tilde = formula.index("~")
    response = formula[:tilde].strip()
    if not response:
        raise point_at(formula, 0, tilde + 1, "the formula has no response left of '~'")
    rhs = formula[tilde + 1:]
    fixed_parts, random = [], []
    for piece, start in _split_top(rhs, tilde + 1):
        terms = _random_term(formula, piece, start)
        if terms is None:
            if piece.strip():
                fixed_parts.append(piece.strip())
            elif fixed_parts or random:
                raise point_at(formula, start, start + 1, "empty term between '+' signs")
        else:
            random.extend(terms)
    if not random:
        raise FormulaError(f"no random-effects term in {formula!r}: add one such as (1 | g); for a model "
                           "with fixed effects only use ordinary least squares")
    fixed = " + ".join(fixed_parts) if fixed_parts else "1"
    return ParsedFormula(formula=formula, response=response, fixed=fixed, random=tuple(random))
