"""Command line: fit a formula to a CSV or parquet file, or fit a bundled example.

    fastmme fit DATA --formula "y ~ x + (1 | g)" [--ml] [--weights COL] [--json OUT] [--confint METHOD]
                     [--ddf Satterthwaite|lme4] [--scheduler ADDRESS | --dask] [--workers N]
    fastmme example NAME [--ml] [--json OUT]
    fastmme datasets
    fastmme --version

--json - writes the JSON to standard output and the printed summary to standard error (so that the
output can be piped into a JSON reader).

DATA is a CSV or parquet file, a directory of parquet files, a glob ('data/*.parquet'), or a URL
that Dask reads (s3://bucket/data/*.parquet; always assembled on Dask).  With
--scheduler the rows are read and assembled by that Dask cluster (fastmme.distributed.partitioned); without it
a local Dask cluster is started when the input looks larger than half the available memory (or
with --dask), and otherwise the rows are read into memory.

Exit codes: 0 success, 2 bad input (the message says what to change), 130 interrupted, 141 the
reader of the output went away (`fastmme fit … | head`: the rest is dropped quietly, as other
command-line tools do).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

from .errors import FastmmeError
from .progress import Progress  # noqa: F401  (the CLI's display: fastmme.progress)


SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")


READERS = {".csv": "CSV", ".txt": "CSV", ".tsv": "TSV", ".tab": "TSV",
           ".parquet": "parquet", ".pq": "parquet", ".feather": "feather", ".arrow": "feather"}
COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")     # a CSV or TSV pandas decompresses: data.csv.gz


def read_table(path: str):
    """A data file as a pandas DataFrame, read by its extension (READERS; a name without an extension
    is read as CSV), with a clear error for anything else."""
    import pandas as pd
    if not os.path.exists(path):
        raise FastmmeError(f"no such file: {path} — check the path (relative to {os.getcwd()})")
    low = path.lower()
    if low.endswith(SPREADSHEETS):
        raise FastmmeError(f"{path} is a spreadsheet, which fastmme does not read: save the sheet as CSV (or "
                           "read it with pandas.read_excel and call fastmme.lmm from Python)")
    base = os.path.basename(low)
    packed = next((c for c in COMPRESSED if base.endswith(c)), "")
    inner = base[:len(base) - len(packed)]
    ext = next((e for e in READERS if inner.endswith(e)), None)
    if (ext is None and "." in inner.strip(".")) or (packed and READERS.get(ext) not in ("CSV", "TSV")):
        raise FastmmeError(f"{path}: fastmme reads {', '.join(READERS)} files ({', '.join(COMPRESSED)} compressed "
                           "CSV or TSV too, and a name without an extension as CSV); convert the file to CSV or parquet")
    kind = READERS.get(ext, "CSV")
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        elif kind == "feather":
            df = pd.read_feather(path)
        else:
            df = pd.read_csv(path, sep="\t" if kind == "TSV" else ",")
    except (ValueError, TypeError, OSError, ImportError, NotImplementedError) as exc:
        # what pandas and pyarrow raise about a file they cannot read (ParserError, EmptyDataError,
        # UnicodeDecodeError and ArrowInvalid are ValueErrors, ArrowIOError an OSError): said, not a traceback
        raise FastmmeError(f"cannot read {path} as {kind}: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__} — "
                           "give a CSV file with a header row, or a .parquet file") from exc
    if df.shape[1] < 2:
        sep = "a tab" if kind == "TSV" else "a comma"
        raise FastmmeError(f"{path} has {df.shape[1]} column(s); a {kind} file with a header row and one column "
                           f"per variable is expected (is the separator {sep}?)")
    stem = os.path.basename(path)
    df.attrs["name"] = stem[:len(stem) - len(packed) - len(ext or "")] or None    # the summary's Data: line
    return df


IN_MEMORY_FACTOR = 3.0     # rows in memory take about this many times their parquet size on disk


def input_files(path: str) -> list:
    """The files a DATA argument names: a file, a directory's parquet files, or a glob."""
    import glob
    if "://" in path:                     # object store or remote file system: Dask (fsspec) reads it
        return [path]
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True) +
                       glob.glob(os.path.join(path, "**", "*.pq"), recursive=True))
    elif any(ch in path for ch in "*?["):
        files = sorted(glob.glob(path))
    else:
        files = [path] if os.path.exists(path) else []
    if not files:
        raise FastmmeError(f"no data at {path}: give a CSV or parquet file, a directory of parquet files or "
                           "a glob such as 'data/*.parquet'")
    return files


def wants_cluster(files, args) -> bool:
    """Dask when asked for, or when the input would take more than half the available memory."""
    if args.scheduler or args.dask or any("://" in f for f in files):
        return True
    from .linalg.cholmod import available_memory
    size = sum(os.path.getsize(f) for f in files)
    return size * IN_MEMORY_FACTOR > 0.5 * available_memory()


def open_partitioned(path, files, args, stack):
    """A Dask DataFrame of the input on a client (the given scheduler, or a local cluster)."""
    try:
        import dask.dataframe as dd
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise FastmmeError("Dask is needed for this input: pip install 'fastmme[dask]'") from exc
    if args.scheduler:
        stack.enter_context(Client(args.scheduler))
    else:
        cluster = stack.enter_context(LocalCluster(n_workers=args.workers or os.cpu_count(), threads_per_worker=1,
                                                   processes=True, dashboard_address=None, silence_logs=40))
        stack.enter_context(Client(cluster))
    csv = all(f.lower().endswith(".csv") for f in files)
    try:
        return dd.read_csv(files) if csv else dd.read_parquet(files)
    except Exception as exc:
        raise FastmmeError(f"cannot read {path} with Dask: {str(exc).splitlines()[0] if str(exc) else exc} — give parquet "
                           "files (or CSV files with a header row) that share one set of columns") from exc


def check_output(path) -> None:
    """Refuse a --json path that cannot be written before the fit, not after it ("-": standard output)."""
    if path is None or path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise FastmmeError(f"--json {path} is a directory: give a file name, e.g. {os.path.join(path, 'fit.json')}")
    if not os.path.isdir(folder):
        raise FastmmeError(f"--json {path}: the folder {folder} does not exist — create it or give another path")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise FastmmeError(f"--json {path}: not writable here — give a path you can write to")


def write_json(fit, path, out) -> None:
    text = json.dumps(fit.to_dict(), indent=1)
    if path == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError as exc:                 # the path was checked before the fit; the disk can still fill up
        raise FastmmeError(f"could not write {path}: {exc.strerror or exc} — the fit is above; give another "
                           "--json path") from exc
    print(f"wrote {path}", file=out)


def _fit_and_report(df, formula, args, out, progress):
    from .api import lmm
    t0 = time.perf_counter()
    fit = lmm(formula, df, reml=not args.ml, weights=args.weights, progress=progress)
    t_fit = time.perf_counter() - t0
    if args.ddf != "lme4":
        progress.note(f"{args.ddf}'s df for the t-tests (--ddf lme4: t values only)")
    text = fit.summary(ddf=args.ddf)
    progress.done()
    t_all = time.perf_counter() - t0
    print(text, file=out)
    tests = f"with {args.ddf} tests" if args.ddf != "lme4" else "(t values only)"
    print(f"\nFitted in {t_fit:.2f} s ({fit.core.n_evals} evaluations); summary {tests} "
          f"{t_all - t_fit:.2f} s more.", file=out)
    if args.confint:
        print(f"\nConfidence intervals ({args.confint}):", file=out)
        print(fit.confint(args.confint, seed=1, progress=progress).to_string(), file=out)
    if args.json:
        write_json(fit, args.json, out)
    return fit


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors read as the CLI's other errors: ``fastmme: error: …``, exit 2
    (a subcommand's parser would say ``fastmme fit: error:``)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"fastmme: error: {message}\n")


def main(argv=None) -> int:
    from . import __version__
    parser = _Parser(prog="fastmme", description="Linear mixed models by sparse mixed-model equations")
    parser.add_argument("--version", action="version", version=f"fastmme {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p):
        p.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
        p.add_argument("--json", metavar="OUT", help="also write the fit as JSON to OUT ('-': standard output, "
                       "the summary then goes to standard error)")
        p.add_argument("--confint", choices=["wald", "profile", "boot"],
                       help="print confidence intervals (boot: 500 parametric-bootstrap refits, seed 1)")
        p.add_argument("--no-progress", action="store_true", help="no live progress display")
        p.add_argument("--weights", help="column of prior weights")
        p.add_argument("--ddf", choices=["Satterthwaite", "Kenward-Roger", "lme4"], default="Satterthwaite",
                       help="t-tests with Satterthwaite's df (lmerTest, the default), Kenward-Roger's (REML fits of "
                       "moderate size) or lme4's t values only (faster on large fits)")

    pf = sub.add_parser("fit", help="fit a formula to a data file (CSV, TSV, parquet or feather)")
    pf.add_argument("data", help="CSV, TSV, parquet or feather file, directory of parquet files, or a glob")
    pf.add_argument("--formula", "-f", required=True, help='lme4 formula, e.g. "y ~ x + (1 | g)"')
    pf.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler (tcp://host:8786) that reads and "
                    "assembles the rows")
    pf.add_argument("--dask", action="store_true", help="assemble on a local Dask cluster even if the data fit "
                    "in memory")
    pf.add_argument("--workers", type=int, help="worker processes of the local Dask cluster (default: cores)")
    common(pf)
    pe = sub.add_parser("example", help="fit a bundled data set with its textbook model")
    from .datasets.examples import EXAMPLES
    pe.add_argument("name", help="one of: " + ", ".join(EXAMPLES))
    common(pe)
    sub.add_parser("datasets", help="list the bundled data sets")
    args = parser.parse_args(argv)
    out = sys.stderr if getattr(args, "json", None) == "-" else sys.stdout
    try:
        check_output(getattr(args, "json", None))
        if args.command == "datasets":
            from .datasets import DESCRIPTIONS, names
            for n in names():
                print(f"{n:<12} {DESCRIPTIONS.get(n, '')}", file=out)
            return 0
        if args.command == "example":
            from .datasets.examples import example
            df, formula = example(args.name)
            print(f"Example {args.name}: {formula}  ({len(df)} rows)\n", file=out)
            _fit_and_report(df, formula, args, out, Progress(enabled=False if args.no_progress else None, phases=True))
        else:
            files = input_files(args.data)
            progress = Progress(enabled=False if args.no_progress else None, phases=True)
            with contextlib.ExitStack() as stack:
                progress.note(f"reading {args.data}")
                if wants_cluster(files, args):
                    df = open_partitioned(args.data, files, args, stack)
                elif len(files) == 1:
                    df = read_table(files[0])
                else:
                    import pandas as pd
                    df = pd.concat([read_table(f) for f in files], ignore_index=True)
                    df.attrs["name"] = args.data        # the summary's Data: line: the directory or glob
                _fit_and_report(df, args.formula, args, out, progress)
    except FastmmeError as exc:
        print(f"fastmme: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fastmme: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _drop_stdout()
        return 141
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        return 141
    return 0


def _drop_stdout() -> None:
    """The output's reader went away: point stdout at /dev/null, so that Python's own flush at exit does
    not raise again (the recipe of the Python documentation, signal module, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
