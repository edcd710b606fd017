"""Partitioned data (a Dask DataFrame): the row pass runs where the rows are, the fit on the driver.

    fit = fastmme.lmm("y ~ x + (1 | g)", dask.dataframe.read_parquet("data/*.parquet"))

Every quantity the fit needs after assembly is a sum over rows (fastmme.assembly.blocks.Blocks), so each
partition is assembled by the same Numba kernels as rows in memory and only (p + q)-sized blocks
travel.  Three passes over the model's columns, each a Dask computation:

1. rows, rows without a missing value (the in-memory rule: any used column missing drops the row),
   and the level sets: of every grouping factor (coded globally: the sorted labels, as in memory,
   or a relationship matrix's labels) and of every categorical fixed-effect column (so formulaic
   makes the same dummy columns in every partition);
2. each partition's blocks on its own co-occurring level pairs (assembly.PartialBlocks), added up
   in a tree reduction by merging the sorted pairs, so no worker holds the whole ZᵀWZ pattern; the
   driver adds up the last few partial sums, fetched one at a time, into the frozen pattern and the
   Blocks.

The driver checks that the summed blocks count every kept row (a partial sum is refused), drops
aliased fixed-effect columns from XᵀWX by the in-memory rule, and fits as for in-memory data.
Fitted values, residuals and predictions come back as Dask series computed partition by partition.
Dask is imported here only: it is the optional extra ``fastmme[dask]``.
Tests: tests/test_partitioned.py.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..assembly.blocks import Blocks, PartialBlocks
from ..assembly.pattern import ZtZPattern
from ..errors import FastmmeError
from ..formula.columns import encode
from ..formula.frame import _check_columns, _group_labels, _relmats, check_response, model_variables
from ..formula.random_terms import FormulaError, parse
from ..spec.checks import check_enough_rows, check_weights, no_complete_rows, warn_aliased

SPLIT_EVERY = 8        # fan-in of the tree reductions


def is_dask(data) -> bool:
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


@dataclass(frozen=True)
class RowPlan:
    """What a worker needs to turn a partition into arrays: small, pickled once per worker."""
    formula: str
    parsed: object              # ParsedFormula
    response: object            # fastmme.formula.columns.Columns of the response
    fixed: object               # Columns of the fixed part (its offset is taken off the response)
    random: tuple               # per random term: its Columns (None: intercept)
    levels: tuple               # per random term: pd.Index of the level labels (the coding)
    known: tuple                # per random term: True when the levels are a relationship matrix's labels
    weights: str | None
    categories: dict            # categorical column → pd.CategoricalDtype of its global levels
    center: float = 0.0         # c taken off the response with an intercept in the model (see build_design)

    def arrays(self, part: pd.DataFrame):
        """(codes (K, n) int32, zcat (n, R), X (n, p) of all fixed columns, y − offset − c, w) of a partition."""
        if self.categories:
            part = part.astype(self.categories)
        y = self.response.matrices(part, "a partition")[0][:, 0]
        X, offset = self.fixed.matrices(part, "a partition")
        if offset is not None:
            y = y - offset
        if self.center:
            y = y - self.center
        n = len(part)
        codes = np.empty((len(self.levels), n), dtype=np.int32)
        zs = []
        for k, t in enumerate(self.parsed.random):
            labels = _group_labels(self.formula, t, part)
            c = self.levels[k].get_indexer(pd.Index(labels))
            if np.any(c < 0) and self.known[k]:           # Dask turns object columns into strings
                miss = np.flatnonzero(c < 0)
                c[miss] = pd.Index(self.levels[k].astype(str)).get_indexer(pd.Index(np.asarray(labels)[miss]).astype(str))
            if np.any(c < 0):
                bad = sorted({str(v) for v in np.asarray(labels)[c < 0]})
                what = "the relationship matrix" if self.known[k] else "the level set"
                raise FastmmeError(f"{t.group}: label(s) {', '.join(bad[:10])} are not in {what}; every "
                                   "level of a term with a relationship matrix must be one of its labels")
            codes[k] = c
            cols = self.random[k]
            zs.append(np.ones((n, 1)) if cols is None else cols.matrices(part, "a partition")[0])
        zcat = np.ascontiguousarray(np.hstack(zs)) if zs else np.zeros((n, 0))
        if self.weights is None:
            w = np.ones(n)
        else:
            w = part[self.weights].to_numpy(float)
            check_weights(w, f" in column {self.weights!r} of a partition")
        for name, a in (("the response", y), ("the fixed-effect columns", X), ("the random-effect columns", zcat)):
            if not np.all(np.isfinite(a)):
                raise FastmmeError(f"{name} contain NaN or inf after the formula's transformations; "
                                   "drop or fix those rows")
        return codes, zcat, X, y, w


# ---- the tasks run on the workers (module level, so they pickle) ---------------------------------
def _blocks_of(part, plan, r, J):
    if len(part) == 0:
        return None
    codes, zcat, X, y, w = plan.arrays(part)
    return PartialBlocks.from_rows(r, J, codes, zcat, X, y, w)


def _sum(items):
    out = None
    for it in items:
        if it is not None:
            out = it if out is None else out + it
    return out


def _interaction_labels(part, formula, term):
    return pd.Series(np.asarray(_group_labels(formula, term, part)), index=part.index, dtype=object)


def _categorical_columns(parts, meta: pd.DataFrame) -> list:
    """Columns formulaic encodes as categories: non-numeric or boolean columns named as terms, and
    the columns of factor(x)."""
    out, as_number = set(), {}
    for rhs in parts:
        for v in rhs.variables.values():
            if v.categorical_of:
                out.add(v.categorical_of)
                continue
            if not v.function:
                dt = meta[v.key].dtype
                if pd.api.types.is_bool_dtype(dt) or not pd.api.types.is_numeric_dtype(dt):
                    out.add(v.key)
                    continue
            for c in v.columns:
                as_number.setdefault(c, v.r_name)
    for c in sorted(out, key=str):
        if c in as_number and pd.api.types.is_numeric_dtype(meta[c].dtype):
            raise FormulaError(f"with Dask input a column cannot be both a factor and a number: factor({c}) and "
                               f"{as_number[c]}; add a categorical copy of {c} to the data and use it in factor()")
    return sorted(out, key=str)


@dataclass(frozen=True)
class PartitionedDesign:
    """The formula layer's Design for partitioned data: the rows stay in `frame` (a Dask DataFrame of
    the complete rows); the driver keeps the summed blocks."""
    parsed: object
    frame: object                 # Dask DataFrame, incomplete rows dropped
    plan: RowPlan
    fixed_columns: object         # fastmme.formula.columns.Columns of the fixed part (predict)
    random_columns: tuple
    x_names: list                 # all fixed columns (before dropping aliased ones)
    kept: np.ndarray              # indices of the kept fixed columns
    dropped: list
    terms: list                   # row-free Terms (levels, columns, structure, relationship)
    blocks: Blocks                # summed over all partitions, kept columns only
    pattern: ZtZPattern
    n_rows: int                   # rows of the input
    n_dropped: int
    weights: str | None
    sparse_fixed: dict = None
    timings: dict = None          # seconds of each pass: "levels", "assembly"
    partitioned: bool = True

    @property
    def y(self) -> np.ndarray:
        """A fingerprint of the response (n, Σ w y²) for comparing fits (anova), not the rows; with the
        centre c off the response, Σ w y² = Σ w (y − c)² + 2c Σ w (y − c) + c² Σ w (the intercept's
        column of XᵀWy and XᵀWX)."""
        b, c = self.blocks, self.plan.center
        if not c:
            return np.array([b.n, b.yty])
        i = [self.x_names[k] for k in self.kept].index("(Intercept)")
        return np.array([b.n, b.yty + 2 * c * b.Xty[i] + c * c * b.XtX[i, i]])

    def spec(self, reml: bool):
        """The row-free ModelSpec of these blocks (REML or ML: the blocks do not depend on it); the Model is
        fastmme.api.design_model's (this module builds blocks, never a Model)."""
        from ..spec.model_spec import ModelSpec, _check_terms
        n = self.blocks.n
        terms, names = _check_terms(self.terms, n, rows=False)
        p = len(self.kept)
        check_enough_rows(n, p)
        x_names = tuple(self.x_names[i] for i in self.kept)
        shift = np.zeros(p)
        if self.plan.center:                    # the workers took c off the response: the intercept has it
            shift[x_names.index("(Intercept)")] = self.plan.center
        return ModelSpec(y=np.zeros(0), X=np.zeros((0, p)), x_names=x_names,
                         dropped=tuple(self.dropped), weights=np.zeros(0), has_weights=self.weights is not None,
                         terms=terms, term_names=names, reml=bool(reml), n_rows=int(n), shift=shift)

    def fitted_and_residuals(self, predictor, sigma: float | None = None):
        """(fitted, residuals[, scaled residuals]) as Dask series, partition by partition."""
        meta = pd.DataFrame({"fitted": pd.Series(dtype="f8"), "residuals": pd.Series(dtype="f8"),
                             "scaled": pd.Series(dtype="f8")})
        out = self.frame.map_partitions(_fitted_partition, self.plan, predictor, sigma or 1.0, meta=meta)
        return out["fitted"], out["residuals"], out["scaled"]


def _fitted_partition(part, plan, predictor, sigma):
    if len(part) == 0:
        return pd.DataFrame({"fitted": np.zeros(0), "residuals": np.zeros(0), "scaled": np.zeros(0)},
                            index=part.index)
    fitted = predictor(part, True, "error")
    cast = part.astype(plan.categories) if plan.categories else part
    y = plan.response.matrices(cast, "a partition")[0][:, 0]
    w = np.ones(len(part)) if plan.weights is None else part[plan.weights].to_numpy(float)
    res = y - fitted
    return pd.DataFrame({"fitted": fitted, "residuals": res, "scaled": res * np.sqrt(w) / sigma}, index=part.index)


def _center(y_sample, fixed, sample) -> float:
    """c, a value near the response's mean (the mean of a few rows, less their offset), taken off the
    response on the workers when the model has an intercept: the blocks then hold sums of squares
    of the spread of y, not of its mean, so r² keeps its digits when the mean is large against the
    spread (the in-memory path's working response, spec.working_response, done in one pass: the
    intercept absorbs c).  0 without an intercept or without finite sample values."""
    if "(Intercept)" not in fixed.names or len(y_sample) == 0:
        return 0.0
    _, offset = fixed.matrices(sample, "a partition")
    v = y_sample - (0.0 if offset is None else offset)
    c = float(np.mean(v))
    return c if np.isfinite(c) else 0.0


def build_design(formula: str, ddf, weights=None, relmat=None, sparse_fixed=None) -> PartitionedDesign:
    """Parse, code the levels globally, assemble every partition and sum the blocks on the cluster."""
    import dask

    pf = parse(formula)
    tr, frame, knowns = _checked_frame(formula, pf, ddf, weights, relmat, sparse_fixed)
    t0 = time.perf_counter()
    n_rows, n_kept, levels, known, categories = _level_sets(dask, formula, pf, tr, ddf, frame, knowns)
    plan, fixed, random_columns = _row_plan(formula, pf, tr, frame, levels, known, weights, categories)
    terms = _terms(pf, random_columns, levels, known, knowns)
    t1 = time.perf_counter()
    pattern, total = _assemble(dask, frame, plan, terms, n_kept)
    t2 = time.perf_counter()
    x_names = list(fixed.names)
    keep, dropped, total = _drop_aliased(total, x_names)
    return PartitionedDesign(parsed=pf, frame=frame, plan=plan, fixed_columns=fixed,
                             random_columns=tuple(random_columns), x_names=x_names, kept=keep, dropped=dropped,
                             terms=terms, blocks=total, pattern=pattern, n_rows=n_rows,
                             n_dropped=n_rows - n_kept, weights=weights,
                             timings={"levels": t1 - t0, "assembly": t2 - t1})


def _checked_frame(formula, pf, ddf, weights, relmat, sparse_fixed):
    """The translated formula, the complete rows of the columns it uses (lazy) and the known
    covariances, or an error for what Dask input cannot take."""
    if sparse_fixed:
        raise FastmmeError("sparse_fixed is not available for Dask input yet: the connected sets of a "
                           "sparse fixed factor need its rows; compute the frame or let the factor be a "
                           "column of X")
    if weights is not None and not isinstance(weights, str):
        raise FastmmeError("with Dask input, weights must be the name of a column of the data")
    knowns = _relmats(pf, relmat)
    meta = ddf._meta
    tr, used = model_variables(formula, pf, meta)
    stateful = [v.r_name for rhs in (tr.response, tr.fixed, *[r for r in tr.random if r is not None])
                for v in rhs.variables.values() if v.function in ("scale", "poly") or "_r_scale(" in v.key]
    if stateful:
        raise FormulaError(f"the formula uses stateful transforms ({', '.join(dict.fromkeys(stateful))}) whose "
                           "state (a mean, a scale, polynomial coefficients) needs every row; with Dask input compute "
                           "such columns before the fit")
    if weights is not None:
        _check_columns(weights, meta, [weights], "weights")
        used.add(weights)
    used = sorted(used, key=str)
    return tr, ddf[used].dropna(subset=used), knowns


def _level_sets(dask, formula, pf, tr, ddf, frame, knowns):
    """Pass 1 over the partitions: the row counts, each grouping factor's levels (a known covariance's
    labels where it has one) and the categories of the factor columns."""
    from ..spec.terms import _as_labels
    cat_cols = _categorical_columns([tr.fixed] + [r for r in tr.random if r is not None], ddf._meta)
    group_uniques = []
    for t in pf.random:
        if t.group in knowns:
            group_uniques.append(None)
        elif len(t.group_vars) == 1:
            group_uniques.append(frame[t.group_vars[0]].drop_duplicates(split_every=SPLIT_EVERY, split_out=1))
        else:
            group_uniques.append(frame.map_partitions(_interaction_labels, formula, t, meta=(t.group, object))
                                 .drop_duplicates(split_every=SPLIT_EVERY, split_out=1))
    lazy = [ddf.map_partitions(len).sum(), frame.map_partitions(len).sum()] + \
        [u for u in group_uniques if u is not None] + \
        [frame[c].drop_duplicates(split_every=SPLIT_EVERY, split_out=1) for c in cat_cols]
    got = list(_guarded(lambda: dask.compute(*lazy)))
    n_rows, n_kept = int(got.pop(0)), int(got.pop(0))
    if n_kept == 0:
        raise no_complete_rows()
    levels, known = [], []
    for t, u in zip(pf.random, group_uniques):
        if u is None:
            levels.append(pd.Index(knowns[t.group].labels))
            known.append(True)
        else:
            levels.append(pd.Index(_as_labels(got.pop(0))[1]))
            known.append(False)
    categories = {}
    for c in cat_cols:
        values = got.pop(0)
        lv = _as_labels(values)[1]
        if isinstance(values.dtype, pd.CategoricalDtype):       # keep the caller's category order
            lv = [v for v in values.dtype.categories if v in set(lv)]
        categories[c] = pd.CategoricalDtype(list(lv))
    return n_rows, n_kept, levels, known, categories


def _row_plan(formula, pf, tr, frame, levels, known, weights, categories):
    """The Columns, from a few rows with the global categories (no stateful transforms: refused above),
    and the RowPlan every partition's pass follows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # "insufficient elements for head": fine
        sample = frame.head(50, npartitions=-1)
    if categories:
        sample = sample.astype(categories)
    response, Y, _ = encode(tr.response, sample, formula, None, "response")
    check_response(formula, response, Y)
    fixed, _, _ = encode(tr.fixed, sample, formula, None, "fixed part")
    random_columns = []
    for t, rhs in zip(pf.random, tr.random):
        random_columns.append(None if rhs is None else encode(rhs, sample, formula, None, f"columns of {t.label}")[0])
    plan = RowPlan(formula=formula, parsed=pf, response=response, fixed=fixed, random=tuple(random_columns),
                   levels=tuple(levels), known=tuple(known), weights=weights, categories=categories,
                   center=_center(Y[:, 0], fixed, sample))
    return plan, fixed, random_columns


def _terms(pf, random_columns, levels, known, knowns) -> list:
    """The Terms of the design: one row per level, in the global level order (their z is not used)."""
    from ..spec.terms import Term
    terms = []
    for k, t in enumerate(pf.random):
        cols = random_columns[k]
        zn = None if cols is None else list(cols.names)
        lv = np.asarray(levels[k])
        z = None if cols is None else np.zeros((len(lv), len(zn)))
        groups = lv if known[k] else pd.Categorical(lv, categories=levels[k])   # one row per level, in order
        term = Term(groups, z=z, structure="diagonal" if t.diagonal else "unstructured", name=t.group,
                    z_names=zn, relationship=knowns.get(t.group))
        if not np.array_equal(np.asarray(term.levels), lv):
            raise FastmmeError(f"internal: the levels of {t.group} were coded in two orders")
        terms.append(term)
    return terms


def _assemble(dask, frame, plan, terms, n_kept):
    """Pass 2: every partition's blocks on its own level pairs, merged by a tree reduction."""
    r = np.array([t.r for t in terms], dtype=np.int64)
    J = np.array([t.n_levels for t in terms], dtype=np.int64)
    parts = frame.to_delayed()
    plan_d = dask.delayed(plan, pure=True, traverse=False)
    total = _tree_sum(dask, [dask.delayed(_blocks_of)(p, plan_d, r, J) for p in parts])
    if total is None or total.n != n_kept:
        raise FastmmeError(f"the assembled blocks count {0 if total is None else total.n} rows where the data "
                           f"have {n_kept} complete rows: a partial sum (lost partition) is not used")
    return total.finish()


def _drop_aliased(total, x_names):
    """The fixed columns kept by the in-memory rule for aliased columns, applied to XᵀWX, and the blocks
    without the dropped ones."""
    from ..spec.model_spec import drop_aliased_gram
    keep, _, dropped = drop_aliased_gram(total.XtX, x_names)
    warn_aliased(dropped, stacklevel=4)
    if dropped:
        total = Blocks(total.zz, np.ascontiguousarray(total.ZtX[:, keep]), total.Zty,
                       np.ascontiguousarray(total.XtX[np.ix_(keep, keep)]), total.Xty[keep], total.yty,
                       total.sum_log_w, total.n)
    return keep, dropped, total


def _tree_sum(dask, leaves):
    """The sum of the partitions' PartialBlocks: added up on the cluster in a tree of fan-in
    SPLIT_EVERY down to at most SPLIT_EVERY partial sums, which the driver fetches one at a time (each
    released on the cluster once here) and adds up itself.  The last merge is the largest (inputs
    and output together are about twice the final ZᵀWZ); on the driver, where the result must end up,
    it is not followed by a transfer of its output (measured at 10⁸ rows: the worker doing the root
    merge peaked at 3.1 GB)."""
    level = list(leaves)
    while len(level) > SPLIT_EVERY:
        level = [dask.delayed(_sum)(level[i:i + SPLIT_EVERY]) for i in range(0, len(level), SPLIT_EVERY)]
    client = _client()
    if client is None:                                     # a local scheduler: already in this process
        return _sum(_guarded(lambda: dask.compute(*level)))
    futures = client.compute(level)
    total = None
    try:
        while futures:
            future = futures.pop(0)
            part = _guarded(future.result)
            del future
            total = _sum([total, part])
            del part
    finally:
        for f in futures:
            f.release()
    return total


def _client():
    """The distributed Client in use, if any."""
    try:
        from distributed import get_client
        return get_client()
    except (ImportError, ValueError):
        return None


def _guarded(run):
    """run() (a Dask computation, or a Future's result) with a worker lost for good turned into the
    project's error (a retried task is Dask's business; a result is only ever built from every
    partition)."""
    try:
        return run()
    except FastmmeError:
        raise
    except Exception as exc:
        if type(exc).__name__ == "KilledWorker":
            raise FastmmeError(f"a Dask worker died while assembling the model ({exc}); no result was built "
                               "from the partitions that finished — check the workers' memory and logs, "
                               "then fit again") from exc
        raise
