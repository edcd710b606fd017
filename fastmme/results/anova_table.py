"""The likelihood-ratio table of fastmme.anova, printed as lme4's anova(m0, m1): the models listed by
label with their formulas, lme4's note when REML fits were refitted by ML, the columns in R's
print.anova formats (5 significant digits; χ² to 4 decimals; p-values by format.pval with
significance stars).  It is a pandas DataFrame (rows by label), so columns read as before."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .rformat import SIGNIF_LEGEND, format_pval, format_real, print_matrix, stars

DIGITS = 5          # print.anova: max(getOption("digits") - 2, 3)


class AnovaTable(pd.DataFrame):
    _metadata = ["formulas", "refitted", "heading", "hypotheses"]

    @property
    def _constructor(self):
        return AnovaTable

    def lines(self) -> list:
        formulas = getattr(self, "formulas", None) or {}
        refitted = getattr(self, "refitted", ()) or ()
        heading = getattr(self, "heading", None)
        out = []
        if refitted:
            out.append(f"refitted with ML (instead of REML): {', '.join(refitted)}")
        if heading:
            out += heading.split("\n")
        else:
            out.append("Models:")
            out += [f"{label}: {formulas.get(label, '')}" for label in self.index]
        cols = list(self.columns)
        pcol = cols[-1] if str(cols[-1]).startswith(("Pr(", "P(")) else None
        cells = [[""] * len(cols) for _ in range(len(self))]
        for j, c in enumerate(cols):
            x = self[c].to_numpy(dtype=float)
            fin = np.isfinite(x)
            if not fin.any():
                continue
            if c == pcol:
                strs = format_pval(x[fin], DIGITS - 1)
            elif c in ("Chisq", "F", "Cp") or str(c)[1:7] == " value":    # print.anova's test statistics
                strs = format_real(np.round(x[fin], DIGITS - 1), DIGITS)
            else:
                v = x[fin]
                if not str(c).endswith("Df"):   # print.anova zaps the other columns first (zapsmall, digits)
                    mx = float(np.max(np.abs(v)))
                    if mx > 0:
                        v = np.round(v, int(np.floor(max(0.0, DIGITS - np.log10(mx)) + 0.5)))
                strs = format_real(v, DIGITS)
            for i, s in zip(np.flatnonzero(fin), strs):
                cells[i][j] = s
        p = self[pcol].to_numpy(dtype=float) if pcol is not None else np.zeros(0)
        legend = bool(np.any(p[np.isfinite(p)] < 0.1))
        header = cols
        if legend:
            codes = [stars(v) if np.isfinite(v) else "" for v in p]
            w = max(len(s) for s in codes)
            header, cells = cols + [""], [row + [s.ljust(w)] for row, s in zip(cells, codes)]
        out += print_matrix(cells, header, [str(i) for i in self.index])
        if legend:
            out += ["---", SIGNIF_LEGEND]
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    __str__ = __repr__
