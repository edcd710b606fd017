"""R's number formatting, for summaries that read as lme4's and lmerTest's.

R formats a numeric vector as a whole (`format(x, digits)`, C's formatReal): every element gets the
same notation and the same number of decimals, the fewest that show each element to `digits`
significant digits.  lme4 prints variances and standard deviations that way, column by column, and
its fixed-effects table by `printCoefmat` (estimates, standard errors and df formatted together
after rounding; t values rounded to digits − 1 decimals; p-values by `format.pval`).  The rules
here are those of R 4.2's stats::printCoefmat, base::format.pval and formatReal (R_print.scipen 0).
Tests: tests/test_rformat.py (against strings R printed).
"""
from __future__ import annotations

import math

import numpy as np

EPS = float(np.finfo(float).eps)      # .Machine$double.eps: p-values below it print as "< 2e-16"

SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"   # printCoefmat's legend


def _scientific(x: float, digits: int) -> tuple:
    """(kp, nsig) of |x| ≠ 0 rounded to `digits` significant digits: its decimal exponent and the
    significant digits left after dropping trailing zeros (formatReal's scientific())."""
    ax = abs(x)
    kp = math.floor(math.log10(ax))
    a = round(ax / 10.0 ** (kp - digits + 1))
    if a >= 10 ** digits:                 # 9.9995 → 10.00: one more power of ten
        kp += 1
        a = round(ax / 10.0 ** (kp - digits + 1))
    nsig = digits
    while nsig > 1 and a % 10 == 0:
        a //= 10
        nsig -= 1
    return kp, nsig


def _special(x: float) -> str:
    return "NaN" if math.isnan(x) else "NA" if x != x else ("Inf" if x > 0 else "-Inf")


def format_real(values, digits: int) -> list:
    """R's format(x, digits = digits) of a numeric vector: strings of one width, right-justified,
    fixed notation unless scientific is narrower.  NaN prints as "NaN", ±inf as "Inf"/"-Inf"."""
    xs = [float(v) for v in np.asarray(values, dtype=float).ravel()]
    fin = [x for x in xs if math.isfinite(x)]
    if not fin:
        out = [_special(x) for x in xs]
        w = max((len(s) for s in out), default=0)
        return [s.rjust(w) for s in out]
    neg = any(x < 0 for x in fin)
    mxsl, rgt, mxe, mxns, mne = 1, 0, 1, 1, 0
    for x in fin:
        if x == 0:
            kp, nsig = 0, 1
        else:
            kp, nsig = _scientific(x, digits)
        mxsl = max(mxsl, (x < 0) + max(kp + 1, 1))     # a sign only where there is one
        rgt = max(rgt, nsig - kp - 1)
        mxe, mne, mxns = max(mxe, kp), min(mne, kp), max(mxns, nsig)
    width_fixed = mxsl + (rgt + 1 if rgt > 0 else 0)
    edigits = 3 if max(abs(mxe), abs(mne)) >= 100 else 2
    width_sci = neg + (mxns + 1 if mxns > 1 else mxns) + 2 + edigits
    if width_fixed <= width_sci:
        out = [f"{x:.{rgt}f}" if math.isfinite(x) else _special(x) for x in xs]
    else:
        out = [_sci(x, mxns - 1, edigits) if math.isfinite(x) else _special(x) for x in xs]
    w = max(len(s) for s in out)
    return [s.rjust(w) for s in out]


def _sci(x: float, decimals: int, edigits: int) -> str:
    mant, exp = f"{x:.{decimals}e}".split("e")
    e = int(exp)
    return f"{mant}e{'-' if e < 0 else '+'}{abs(e):0{edigits}d}"


def format_pval(pv, digits: int, eps: float = EPS) -> list:
    """R's format.pval(pv, digits, eps): p-values below eps as "< 2e-16" (or "<2e-16"), the others
    formatted together in two groups (exponent ≥ −3, and the rest)."""
    pv = [float(p) for p in np.asarray(pv, dtype=float).ravel()]
    out = ["NA" if math.isnan(p) else "" for p in pv]
    ok = [i for i, p in enumerate(pv) if not math.isnan(p)]
    is0 = [i for i in ok if pv[i] < eps]
    rest = [i for i in ok if pv[i] >= eps]
    if rest:
        expo = {i: math.floor(math.log10(pv[i])) if pv[i] > 0 else -50 for i in rest}
        fixp = [i for i in rest if expo[i] >= -3 or (expo[i] == -4 and digits > 1)]
        for group in (fixp, [i for i in rest if i not in set(fixp)]):
            if group:
                for i, s in zip(group, format_real([pv[i] for i in group], digits)):
                    out[i] = s.strip()
    if is0:
        d = max(1, digits - 2)
        if rest:
            nc = max(len(out[i]) for i in rest)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        text = "<" + sep + format_real([eps], d)[0].strip()
        for i in is0:
            out[i] = text
    return out


def stars(p: float) -> str:
    """R's significance codes (symnum with cutpoints 0, 0.001, 0.01, 0.05, 0.1, 1)."""
    if not np.isfinite(p):
        return ""
    return "***" if p <= 0.001 else "**" if p <= 0.01 else "*" if p <= 0.05 else "." if p <= 0.1 else " "


def coef_cells(table, digits: int = 4) -> tuple:
    """printCoefmat's strings for a coefficient table (pandas DataFrame, rows named): (column names,
    cells row by row, significance stars per row or None).  The columns before the statistic (Estimate, Std. Error[, df]) are
    rounded to max(1, digits − digmin) decimals, digmin = 1 + floor(log10 of the smallest non-zero
    |entry|), and formatted together; the statistic (t or z value) is rounded to digits − 1 decimals;
    the last column, if its name starts "Pr(", by format_pval with digits − 1, and stars follow when
    any p-value is below 0.1."""
    cols = list(table.columns)
    x = table.to_numpy(dtype=float)
    n, nc = x.shape
    has_p = nc >= 4 and str(cols[-1]).startswith(("Pr(", "p-v"))
    k = nc - has_p - 1                               # cs.ind = 1:k, tst.ind = k + 1
    dig_tst = max(1, min(5, digits - 1))
    cells = [[""] * nc for _ in range(n)]
    cs = x[:, :k]
    acs = np.abs(cs[np.isfinite(cs) & (cs != 0)])
    if k and np.any(np.isfinite(cs)):
        digmin = 1 + (np.floor(np.log10(acs.min())) if acs.size else 0)
        dec = int(max(1, digits - digmin))
        flat = format_real(np.round(cs.T.ravel(), dec), digits)      # R formats the block as one vector
        for j in range(k):
            for i in range(n):
                cells[i][j] = flat[j * n + i]
        for j in range(k):                          # printCoefmat's not.both.0: a zero that is not, or back
            for i in range(n):
                shown = float(cells[i][j]) if cells[i][j].strip() not in ("NA", "NaN", "Inf", "-Inf") else None
                if shown is not None and (x[i, j] == 0) != (shown == 0):
                    cells[i][j] = format_real([x[i, j]], max(1, digits - 1))[0]
    if k < nc - has_p:
        for i, s in enumerate(format_real(np.round(x[:, k], dig_tst), digits)):
            cells[i][k] = s
    legend = False
    if has_p:
        pv = x[:, -1]
        for i, s in enumerate(format_pval(pv, dig_tst)):
            cells[i][-1] = s
        legend = bool(np.any(pv[np.isfinite(pv)] < 0.1))
    signif = [stars(p) for p in x[:, -1]] if legend else None
    return [str(c) for c in cols], cells, signif


def coef_matrix(table, digits: int = 4) -> list:
    """printCoefmat(x, digits) of a coefficient table: the lines R prints, the legend included when
    there are stars (see coef_cells)."""
    header, cells, signif = coef_cells(table, digits)
    if signif is not None:
        w = max(len(st) for st in signif)            # format(Signif): the codes left-justified
        header, cells = header + [""], [row + [st.ljust(w)] for row, st in zip(cells, signif)]
    lines = print_matrix(cells, header, [str(r) for r in table.index])
    if signif is not None:
        lines += ["---", SIGNIF_LEGEND]
    return lines


def abbreviate(name: str, minlength: int) -> str:
    """R's abbreviate(name, minlength): drop lower-case vowels from the right (never a word's first
    letter), then lower-case letters, then spaces, until the name is at most minlength long."""
    chars = list(name)
    for drop in (lambda c: c in "aeiou", lambda c: c.islower()):
        i = len(chars) - 1
        while i > 0 and len(chars) > minlength:
            if drop(chars[i]) and chars[i - 1] != " ":
                del chars[i]
            i -= 1
    i = len(chars) - 1
    while i > 0 and len(chars) > minlength:
        if chars[i] == " ":
            del chars[i]
        i -= 1
    return "".join(chars)


def print_matrix(cells, header, row_names=None, right: bool = True) -> list:
    """R's print of a character matrix (quote = FALSE): row names left-justified, each column as
    wide as its widest entry or name, right- or left-justified, one space apart; trailing blanks cut."""
    n, nc = len(cells), len(header)
    row_names = row_names if row_names is not None else [""] * n
    wn = max([len(s) for s in row_names] + [0])
    widths = [max([len(header[j])] + [len(cells[i][j]) for i in range(n)]) for j in range(nc)]
    just = (lambda s, w: s.rjust(w)) if right else (lambda s, w: s.ljust(w))
    lines = [(" " * wn + "".join(" " + just(h, w) for h, w in zip(header, widths))).rstrip()]
    for i in range(n):
        lines.append((row_names[i].ljust(wn) + "".join(" " + just(c, w) for c, w in zip(cells[i], widths))).rstrip())
    return lines


def print_named(names, cells) -> list:
    """R's print of a named vector of formatted values (the scaled residuals' quantiles, the AIC
    table): each name right-justified above its value, one space apart."""
    w = max(len(t) for t in list(names) + list(cells))          # one width for every column, as R
    return [" ".join(a.rjust(w) for a in names), " ".join(b.rjust(w) for b in cells)]
