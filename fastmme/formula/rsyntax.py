"""R's model-formula language for one right-hand side, translated into formulaic's.

    translate("Days + I(Days^2) + factor(g) + offset(log(w))", formula) -> RHS

formulaic tokenises the text and expands the operators (``+ - * / : ^``), which mean the same in
both languages.  What differs is translated here, so that nothing written in R is evaluated as
something else:

* inside a function call the arguments are R expressions: ``^`` is a power (Python's ``^`` is XOR),
  names may contain dots, ``TRUE``/``FALSE`` are logicals.  Each call is read with Python's ``ast``
  (after those spellings are mapped), checked against the functions fastmme knows
  (fastmme.formula.rtransforms, R's semantics) and rewritten to call them; its R name is deparsed as R
  prints it (``I(Days^2)``, ``log(x + 1)``, ``poly(x, 2)``);
* the terms are put in R's order — by degree, stable — and the factors of each interaction in the
  order in which the variables first appear in the formula (R's ``terms.formula``), which fixes
  the columns' names and order;
* ``offset(x)`` terms are set apart (their sum is the offset of the model).

Everything else that R would read differently is refused with a FormulaError naming it: ``%in%``,
``.``, a bare ``x^2`` (crossing in R, which is just x: write ``I(x^2)``), braces, indexing, strings,
comparisons, and any function not listed in FUNCTIONS.  Tests: tests/test_rsyntax.py.
"""
from __future__ import annotations

import ast
import dataclasses
import keyword
import math
import re
from dataclasses import dataclass

from formulaic.errors import FormulaicError
from formulaic.formula import SimpleFormula
from formulaic.parser.algos.sanitize_tokens import sanitize_python_code
from formulaic.parser.algos.tokenize import tokenize
from formulaic.parser.types import Factor as FFactor, Term as FTerm, Token

from .random_terms import FormulaError, point_at


# R function → (internal name, positional parameters, keyword parameters, where it may appear)
# "top": only as a whole factor of a term (factor, poly, offset); "any": also nested.
FUNCTIONS = {
    "I": ("_r_I", ("x",), (), "any"),
    "factor": ("_r_factor", ("x",), (), "top"),
    "as.factor": ("_r_factor", ("x",), (), "top"),
    "C": ("_r_factor", ("x",), (), "top"),
    "as.numeric": ("_r_as_numeric", ("x",), (), "any"),
    "as.double": ("_r_as_numeric", ("x",), (), "any"),
    "offset": ("_r_offset", ("x",), (), "top"),
    "log": ("_r_log", ("x", "base"), ("base",), "any"),
    "log2": ("_r_log2", ("x",), (), "any"),
    "log10": ("_r_log10", ("x",), (), "any"),
    "log1p": ("_r_log1p", ("x",), (), "any"),
    "exp": ("_r_exp", ("x",), (), "any"),
    "expm1": ("_r_expm1", ("x",), (), "any"),
    "sqrt": ("_r_sqrt", ("x",), (), "any"),
    "abs": ("_r_abs", ("x",), (), "any"),
    "scale": ("_r_scale", ("x", "center", "scale"), ("center", "scale"), "any"),
    "poly": ("_r_poly", ("x", "degree"), ("degree", "raw"), "top"),
}
STATEFUL = {"scale", "poly"}
CATEGORICAL = {"factor", "as.factor", "C"}

# binary operators: (Python code, R spelling, precedence, right-associative)
_BINARY = {ast.Add: ("+", " + ", 1, False), ast.Sub: ("-", " - ", 1, False), ast.Mult: ("*", " * ", 2, False),
           ast.Div: ("/", "/", 2, False), ast.Pow: ("**", "^", 4, True)}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}
_R_IDENT = re.compile(r"`[^`]*`|(?<![\w.])(?:[A-Za-z]|\.(?![0-9]))[\w.]*")
_FORBIDDEN = re.compile(r"""[%$@\[\]{}'"!&|<>;~?\\#]|==""")


@dataclass(frozen=True)
class Variable:
    """A factor of a term: a data column, or an R call such as log(x) or factor(g)."""
    key: str               # formulaic's expression (the model spec knows the factor by it)
    r_name: str            # as R names it in column names: "I(Days^2)", "factor(g)", "x"
    columns: tuple         # the data columns it reads
    position: int          # first appearance in the formula text (R's variable order)
    function: str = ""     # R function at the top ("" for a bare column)
    categorical_of: str = ""   # factor(col)/C(col): the column whose values are the levels


@dataclass(frozen=True)
class RHS:
    """A translated right-hand side: terms in R's order, each a tuple of variable keys."""
    text: str
    intercept: bool
    terms: tuple           # tuples of keys, R's order (offsets not included)
    offsets: tuple         # keys of offset(...) terms
    variables: dict        # key → Variable

    @property
    def columns(self) -> set:
        return {c for v in self.variables.values() for c in v.columns}

    @property
    def stateful(self) -> bool:
        return any(v.function in STATEFUL or "_r_scale(" in v.key for v in self.variables.values())

    def formulaic(self) -> SimpleFormula:
        """formulaic's formula of these terms, in this order (offsets last)."""
        terms = [FTerm([FFactor("1", eval_method="literal")])] if self.intercept else []
        for t in self.terms + tuple((k,) for k in self.offsets):
            terms.append(FTerm([_factor(self.variables[k]) for k in t]))
        return SimpleFormula(terms, _ordering="none")

    def without(self, keys) -> "RHS":
        """The same right-hand side without the main-effect terms of `keys` (sparse fixed factors)."""
        drop = {(k,) for k in keys}
        return RHS(self.text, self.intercept, tuple(t for t in self.terms if t not in drop), self.offsets,
                   self.variables)

    def with_logicals(self, logical_columns) -> "RHS":
        """The same right-hand side with the terms' logical columns read as factors (R codes a logical
        as a factor with levels FALSE, TRUE: column 'lateTRUE'); arithmetic on them stays numeric."""
        swap = {k: v for k, v in self.variables.items() if not v.function and k in logical_columns}
        if not swap:
            return self
        variables, keys = dict(self.variables), {}
        for k, v in swap.items():
            keys[k] = sanitize_python_code(f"_r_factor({_py_name(k)})")
            variables[keys[k]] = dataclasses.replace(v, key=keys[k], function="factor", categorical_of=k)
        terms = tuple(tuple(keys.get(k, k) for k in t) for t in self.terms)
        return dataclasses.replace(self, terms=terms, variables=variables)

    def label(self, term) -> str:
        return ":".join(self.variables[k].r_name for k in term)


def _factor(v: Variable) -> FFactor:
    if v.function:
        return FFactor(v.key, eval_method="python")
    return FFactor(v.key, eval_method="lookup")


# ---- numbers and names as R prints them ----------------------------------------------------------
def r_number(v) -> str:
    """R's deparse/as.character of a number: 15 significant digits, the shorter of fixed and scientific
    notation (fixed on a tie): 2 → "2", 1e5 → "1e+05", 2.5e-6 → "2.5e-06", 0.1 → "0.1"."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    target = float(f"{v:.14e}")
    for digits in range(1, 16):
        if float(f"{v:.{digits - 1}e}") == target:
            break
    mant, exp = f"{v:.{digits - 1}e}".split("e")
    e = int(exp)
    sci = f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    fixed = f"{v:.{max(0, digits - 1 - e)}f}"
    return fixed if len(fixed) <= len(sci) else sci


def r_level(v) -> str:
    """R's label of a factor level: as.character of the value."""
    if isinstance(v, (bool,)) or type(v).__name__ == "bool_":
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)) or type(v).__module__ == "numpy":
        try:
            return r_number(v.item() if hasattr(v, "item") else v)
        except (TypeError, ValueError):
            return str(v)
    return str(v)


def _py_name(name: str) -> str:
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"`{name}`"


# ---- one R call ----------------------------------------------------------------------------------
class _Call:
    """Reads one R expression (a python token of formulaic's tokenizer) into formulaic code."""

    def __init__(self, text: str, formula: str, start: int, end: int, braces: bool = False):
        self.text, self.formula, self.span, self.braces = text, formula, (start, end), braces
        self.columns: list = []
        self.functions: list = []

    def fail(self, message: str) -> FormulaError:
        return point_at(self.formula, *self.span, message)

    def read(self):
        if self.braces:
            raise self.fail(f"braces {{...}} are not R formula syntax; write I({self.text.strip()}) "
                            "for arithmetic on columns")
        bad = _FORBIDDEN.search(re.sub(r"`[^`]*`", "", self.text))
        if bad:
            raise self.fail(f"'{bad.group(0)}' in {self.text.strip()} is not supported inside a formula "
                            "(supported: arithmetic + - * / ^, numbers, columns and the functions "
                            f"{', '.join(sorted(FUNCTIONS))})")
        names = {}

        def hold(m):
            word = m.group(0)
            rest = m.string[m.end():].lstrip()
            if rest.startswith("=") and not rest.startswith("=="):
                return word                       # an argument's name: degree = 2
            ident = word[1:-1] if word.startswith("`") else word
            if ident in ("TRUE", "FALSE"):
                return "True" if ident == "TRUE" else "False"
            if ident not in names:
                names[ident] = f"_R{len(names)}_"
            return names[ident]

        code = _R_IDENT.sub(hold, self.text).replace("^", "**")
        try:
            tree = ast.parse(code.strip(), mode="eval").body
        except SyntaxError:
            raise self.fail(f"cannot read {self.text.strip()!r} as an R expression of columns, numbers and the "
                            "functions fastmme supports") from None
        self.names = {v: k for k, v in names.items()}
        return tree

    def convert(self, node, top: bool):
        """(formulaic code, R deparse, precedence) of an expression node."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return repr(node.value), r_number(node.value), 5
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return repr(node.value), "TRUE" if node.value else "FALSE", 5
        if isinstance(node, ast.Name) and node.id in self.names:
            col = self.names[node.id]
            self.columns.append(col)
            return _py_name(col), col if re.fullmatch(r"[A-Za-z.][\w.]*", col) else f"`{col}`", 5
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            py, r, prec, right = _BINARY[type(node.op)]
            lp, lr, lprec = self.convert(node.left, False)
            rp, rr, rprec = self.convert(node.right, False)
            if lprec < prec or (lprec == prec and right):
                lp, lr = f"({lp})", f"({lr})"
            if rprec < prec or (rprec == prec and not right):
                rp, rr = f"({rp})", f"({rr})"
            return f"{lp} {py} {rp}", f"{lr}{r}{rr}", prec
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            op = _UNARY[type(node.op)]
            p, r, prec = self.convert(node.operand, False)
            if prec < 3:
                p, r = f"({p})", f"({r})"
            return f"{op}{p}", f"{op}{r}", 3
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.names:
            return self.call(node, top)
        what = ast.unparse(node)
        for hold, name in self.names.items():
            what = what.replace(hold, name)
        raise self.fail(f"'{what}' is not supported inside a formula (supported: arithmetic + - * / ^, numbers, "
                        f"columns and the functions {', '.join(sorted(FUNCTIONS))})")

    def call(self, node: ast.Call, top: bool):
        name = self.names[node.func.id]
        if name not in FUNCTIONS:
            raise self.fail(f"the function {name}() is not supported in a formula; fastmme knows "
                            f"{', '.join(f'{f}()' for f in sorted(FUNCTIONS))} — compute the column before the fit")
        internal, positional, keywords, where = FUNCTIONS[name]
        if where == "top" and not top:
            raise self.fail(f"{name}() must be a term of its own (or a factor of an interaction), not inside "
                            "another expression")
        self.functions.append(name)
        if len(node.args) > len(positional) or any(k.arg not in keywords for k in node.keywords) or not node.args:
            allowed = ", ".join([positional[0]] + [f"{k} = …" for k in keywords])
            raise self.fail(f"{name}() takes ({allowed}) here; other arguments are not supported")
        if name in CATEGORICAL and not (isinstance(node.args[0], ast.Name) and node.args[0].id in self.names):
            raise self.fail(f"{name}() takes a column name here, e.g. {name}(x); make the column first")
        args_py, args_r = [], []
        given = {}
        for i, a in enumerate(node.args):
            p, r, _ = self.convert(a, False)
            args_py.append(p)
            args_r.append(r)
            given[positional[i]] = a
        for k in node.keywords:
            p, r, _ = self.convert(k.value, False)
            args_py.append(f"{k.arg}={p}")
            args_r.append(f"{k.arg} = {r}")
            given[k.arg] = k.value
        self.check_arguments(name, given)
        return f"{internal}({', '.join(args_py)})", f"{name}({', '.join(args_r)})", 5

    def check_arguments(self, name: str, given: dict):
        def literal(key, kinds):
            v = given.get(key)
            if v is None:
                return None
            if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub) and isinstance(v.operand, ast.Constant):
                return -v.operand.value
            if isinstance(v, ast.Constant) and isinstance(v.value, kinds):
                return v.value
            raise self.fail(f"{name}(): {key} must be a literal here ({' or '.join(k.__name__ for k in kinds)})")
        if name == "poly":
            d = literal("degree", (int, float))
            if d is not None and (d != int(d) or d < 1 or isinstance(d, bool)):
                raise self.fail(f"poly(): degree must be a positive whole number; got {d}")
            literal("raw", (bool,))
        elif name == "scale":
            literal("center", (bool, int, float))
            literal("scale", (bool, int, float))
        elif name == "log":
            literal("base", (int, float))


def _python_factor(token: Token, formula: str, base: int):
    braces = bool(token.source) and token.source[token.source_start] == "{"
    c = _Call(token.token, formula, base + token.source_start, base + token.source_end + 1, braces)
    tree = c.read()
    code, r_name, _ = c.convert(tree, True)
    key = sanitize_python_code(code)
    top = c.functions[0] if isinstance(tree, ast.Call) else ""
    categorical_of = c.columns[0] if top in CATEGORICAL else ""
    return Variable(key=key, r_name=r_name, columns=tuple(dict.fromkeys(c.columns)), position=token.source_start,
                    function=top, categorical_of=categorical_of)


# ---- a right-hand side ---------------------------------------------------------------------------
def translate(text: str, formula: str | None = None, base: int | None = None) -> RHS:
    """Translate an R right-hand side (`text`, a part of `formula` at offset `base`) into formulaic's.
    Errors point at the offending part of `formula`."""
    formula = text if formula is None else formula
    if base is None:
        base = max(formula.find(text), 0)
    try:
        tokens = list(tokenize(text))
    except FormulaicError as exc:
        raise point_at(formula, base, base + len(text), f"cannot read the formula: {exc}") from None
    variables, pieces = {}, []
    prev = None
    for tok in tokens:
        span = (base + tok.source_start, base + tok.source_end + 1)
        kind, t = tok.kind, tok.token
        if kind is Token.Kind.PYTHON:
            v = _python_factor(tok, formula, base)
            if v.function == "offset" and prev is not None and prev.kind is Token.Kind.OPERATOR and "-" in prev.token:
                raise point_at(formula, *span, "an offset cannot be removed with '-'; leave it out of the formula")
            variables.setdefault(v.key, v)
            pieces.append(v.key)
        elif kind is Token.Kind.NAME:
            r = t if re.fullmatch(r"(?:[A-Za-z]|\.(?![0-9]))[\w.]*", t) else f"`{t}`"
            variables.setdefault(t, Variable(key=t, r_name=r, columns=(t,), position=tok.source_start))
            pieces.append(f"`{t}`" if not re.fullmatch(r"[A-Za-z_.][\w.]*", t) else t)
        elif kind is Token.Kind.OPERATOR:
            if t in ("^", "**") and not (prev is not None and prev.kind is Token.Kind.CONTEXT and prev.token == ")"):
                raise point_at(formula, *span, "outside I(), '^' crosses terms in R: x^2 is just x. For the "
                               f"square write I({prev.token if prev is not None else 'x'}^2); for crossing write (a + b)^2")
            if t == "in":
                raise point_at(formula, *span, "'%in%' is not supported: write the nesting as a/b or the "
                               "interaction a:b")
            if t not in ("+", "-", "*", "/", ":", "^", "**") and set(t) - {"+", "-"}:
                raise point_at(formula, *span, f"the operator '{t}' is not supported in a formula")
            pieces.append(t)
        elif kind is Token.Kind.VALUE:
            after_power = prev is not None and prev.token in ("^", "**")
            if t == ".":
                raise point_at(formula, *span, "'.' (all other columns) is not supported: name the columns")
            if not (t in ("0", "1") or (after_power and t.isdigit())):
                raise point_at(formula, *span, f"{t} is not a term: a formula term is a column, a function of "
                               "columns, or 0/1 for the intercept")
            pieces.append(t)
        else:   # context: parentheses
            if t not in ("(", ")"):
                raise point_at(formula, *span, f"'{t}' is not supported in a formula")
            pieces.append(t)
        prev = tok
    from formulaic import Formula
    try:
        parsed = list(Formula(" ".join(pieces) or "1", _ordering="none"))
    except FormulaicError as exc:
        raise point_at(formula, base, base + len(text), f"cannot read the formula: {exc}") from None
    intercept, terms, offsets = False, [], []
    for term in parsed:
        keys = tuple(f.expr for f in term.factors if f.eval_method.value != "literal")
        if not keys:
            intercept = True
            continue
        funcs = [variables[k].function for k in keys]
        if "offset" in funcs:
            if len(keys) > 1:
                raise point_at(formula, base, base + len(text), f"offset() cannot be part of an interaction "
                               f"({':'.join(variables[k].r_name for k in keys)})")
            offsets.append(keys[0])
            continue
        terms.append(tuple(sorted(keys, key=lambda k: variables[k].position)))
    terms = sorted(dict.fromkeys(terms), key=len)          # R: by degree, stable
    return RHS(text=text, intercept=intercept, terms=tuple(terms), offsets=tuple(offsets), variables=variables)
