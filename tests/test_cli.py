"""The command line, end to end in subprocesses."""
import json
import os
import subprocess
import sys

import pytest

import fastmme

FASTMME = [sys.executable, "-m", "fastmme.cli"]


def run(args, **kw):
    return subprocess.run(FASTMME + args, capture_output=True, text=True, timeout=300, **kw)


def test_fit_csv_end_to_end(tmp_path):
    path = tmp_path / "sleep.csv"
    fastmme.datasets.load("sleepstudy").to_csv(path, index=False)
    out = tmp_path / "fit.json"
    r = run(["fit", str(path), "--formula", "Reaction ~ Days + (Days | Subject)", "--json", str(out)])
    assert r.returncode == 0, r.stderr
    assert "REML criterion at convergence: 1743.6" in r.stdout and "Satterthwaite" in r.stdout
    d = json.loads(out.read_text())
    assert d["fixef"]["Days"] == pytest.approx(10.4673, rel=1e-4)
    assert r.stderr == ""          # not a terminal: no progress display


def test_fit_parquet_ml_and_confint(tmp_path):
    path = tmp_path / "dye.parquet"
    fastmme.datasets.load("Dyestuff").to_parquet(path)
    r = run(["fit", str(path), "-f", "Yield ~ 1 + (1 | Batch)", "--ml", "--confint", "profile"])
    assert r.returncode == 0, r.stderr
    assert "maximum likelihood" in r.stdout and "sd_(Intercept)|Batch" in r.stdout
    assert r.stderr == ""          # not a terminal: no progress display


def test_confint_boot_is_seeded(tmp_path):
    path = tmp_path / "dye.csv"
    fastmme.datasets.load("Dyestuff").to_csv(path, index=False)
    args = ["fit", str(path), "-f", "Yield ~ 1 + (1 | Batch)", "--ddf", "lme4", "--confint", "boot"]
    first, second = run(args), run(args)
    assert first.returncode == 0, first.stderr
    intervals = first.stdout.split("Confidence intervals (boot):")[1]
    assert "2.5 %" in intervals and "(Intercept)" in intervals
    assert intervals == second.stdout.split("Confidence intervals (boot):")[1]


def test_example_command():
    r = run(["example", "dyestuff"])
    assert r.returncode == 0 and "Yield ~ 1 + (1 | Batch)" in r.stdout


def test_datasets_command():
    r = run(["datasets"])
    assert r.returncode == 0 and "InstEval" in r.stdout and "sleepstudy" in r.stdout


@pytest.mark.parametrize("content", [os.urandom(2000), b"just one column\n1\n2\n", b""])
def test_bad_files_give_a_message_and_nonzero_exit(tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    r = run(["fit", str(path), "-f", "y ~ 1 + (1 | g)"])
    assert r.returncode == 2
    assert r.stderr.startswith("fastmme: error:") and "Traceback" not in r.stderr


def test_formula_error_exit_code(tmp_path):
    path = tmp_path / "sleep.csv"
    fastmme.datasets.load("sleepstudy").to_csv(path, index=False)
    r = run(["fit", str(path), "-f", "Reaction ~ Days + (Days | Subject"])
    assert r.returncode == 2 and "never closed" in r.stderr


def test_progress_display_only_when_enabled():
    import io
    from fastmme.cli import Progress
    quiet = Progress(stream=io.StringIO())      # StringIO is not a terminal
    quiet(5, 1.0)
    assert quiet.stream.getvalue() == ""
    loud = Progress(stream=io.StringIO(), enabled=True, delay=0, interval=0)
    loud(5, 123.456)
    loud.close()
    assert "5 evaluations" in loud.stream.getvalue() and "123.456" in loud.stream.getvalue()


def _partitioned_sleepstudy(tmp_path):
    df = fastmme.datasets.load("sleepstudy")
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, cut in enumerate([slice(0, 50), slice(50, 51), slice(51, 180)]):     # uneven files
        df.iloc[cut].to_parquet(folder / f"part-{i}.parquet")
    return folder


def test_fit_a_directory_and_a_glob_in_memory_and_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("dask.distributed")
    folder = _partitioned_sleepstudy(tmp_path)
    formula = ["--formula", "Reaction ~ Days + (Days | Subject)"]
    mem, dsk = tmp_path / "mem.json", tmp_path / "dask.json"
    r = run(["fit", str(folder)] + formula + ["--json", str(mem)])
    assert r.returncode == 0, r.stderr
    r = run(["fit", str(folder / "part-*.parquet")] + formula + ["--dask", "--workers", "2", "--json", str(dsk)])
    assert r.returncode == 0, r.stderr
    assert "assembled from 3 partitions" in r.stdout
    a, b = json.loads(mem.read_text()), json.loads(dsk.read_text())
    assert a["nobs"] == b["nobs"] == 180
    for k in a["theta"]:
        assert b["theta"][k] == pytest.approx(a["theta"][k], rel=1e-10)
    assert b["deviance"] == pytest.approx(a["deviance"], rel=1e-12)


def test_fit_against_a_running_scheduler(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    folder = _partitioned_sleepstudy(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        r = run(["fit", str(folder), "--formula", "Reaction ~ Days + (Days | Subject)",
                 "--scheduler", cluster.scheduler_address])
    assert r.returncode == 0, r.stderr
    assert "REML criterion at convergence: 1743.6" in r.stdout and "assembled from 3 partitions" in r.stdout


def test_no_data_at_a_glob_is_a_clear_error(tmp_path):
    r = run(["fit", str(tmp_path / "nothing-*.parquet"), "--formula", "y ~ (1 | g)"])
    assert r.returncode == 2 and "no data at" in r.stderr


def _sleep_csv(tmp_path):
    path = tmp_path / "sleep.csv"
    fastmme.datasets.load("sleepstudy").to_csv(path, index=False)
    return path


def test_an_unwritable_json_path_is_refused_before_the_fit(tmp_path):
    path = _sleep_csv(tmp_path)
    for bad, says in ((tmp_path / "no" / "such" / "x.json", "does not exist"), (tmp_path, "is a directory")):
        r = run(["fit", str(path), "-f", "Reaction ~ Days + (Days | Subject)", "--json", str(bad)])
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("fastmme: error: --json") and says in r.stderr and "Traceback" not in r.stderr
        assert "REML criterion" not in r.stdout          # refused before fitting, not after


def test_json_to_standard_output_with_the_summary_on_standard_error(tmp_path):
    path = _sleep_csv(tmp_path)
    r = run(["fit", str(path), "-f", "Reaction ~ Days + (Days | Subject)", "--json", "-"])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["fixef"]["Days"] == pytest.approx(10.4673, rel=1e-4)
    assert "REML criterion at convergence: 1743.6" in r.stderr
    assert not (tmp_path / "-").exists() and not os.path.exists("-")


def test_a_closed_pipe_ends_quietly(tmp_path):
    path = _sleep_csv(tmp_path)
    # `true` exits without reading, long before the fit ends: the first write meets a closed pipe
    cmd = " ".join(FASTMME) + f" fit {path} -f 'Reaction ~ Days + (Days | Subject)' | true"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    assert r.returncode == 141


def test_version():
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.strip() == f"fastmme {fastmme.__version__}"


def _fit_file(tmp_path, name, content: bytes):
    """The CLI's fit of a file `name` holding `content` (a formula its columns need not have)."""
    path = tmp_path / name
    path.write_bytes(content)
    return path, run(["fit", str(path), "-f", "y ~ 1 + (1 | g)"])


@pytest.mark.parametrize("name", ["data.xlsx", "data.XLS", "data.ods"])
def test_a_spreadsheet_is_refused_with_a_message(tmp_path, name):
    _, r = _fit_file(tmp_path, name, b"PK\x03\x04" + os.urandom(500))
    assert r.returncode == 2 and "spreadsheet" in r.stderr and "save the sheet as CSV" in r.stderr


def test_ddf_lme4_gives_t_values_only(tmp_path):
    path = _sleep_csv(tmp_path)
    r = run(["fit", str(path), "-f", "Reaction ~ Days + (Days | Subject)", "--ddf", "lme4"])
    assert r.returncode == 0, r.stderr
    assert "Satterthwaite" not in r.stdout.splitlines()[0] and "Pr(>|t|)" not in r.stdout
    assert "Estimate Std. Error t value" in r.stdout and "(t values only)" in r.stdout


def test_the_phases_without_a_count_are_shown_on_a_terminal():
    import io
    from fastmme.cli import Progress
    loud = Progress(stream=io.StringIO(), enabled=True)
    loud.note("reading data.csv")
    assert "reading data.csv …" in loud.stream.getvalue()
    loud.done()
    quiet = Progress(stream=io.StringIO())
    quiet.note("reading data.csv")
    assert quiet.stream.getvalue() == ""


@pytest.mark.parametrize("ext", [".tsv", ".feather", "", ".csv.gz", ".TSV.bz2"])
def test_files_are_read_by_their_extension(tmp_path, ext):
    """TSV and feather by their extension, a name without one as CSV, compressed CSV and TSV; the
    summary's Data: line is the file's name without its extension (dots inside the name kept)."""
    d = fastmme.datasets.load("sleepstudy")
    path = tmp_path / ("sleepstudy" if ext == "" else f"sleep.study{ext}")
    if ext == ".feather":
        d.to_feather(path)
    else:
        d.to_csv(path, index=False, sep="\t" if "tsv" in ext.lower() else ",")
    r = run(["fit", str(path), "-f", "Reaction ~ Days + (Days | Subject)"])
    assert r.returncode == 0, r.stderr
    assert "REML criterion at convergence: 1743.6" in r.stdout
    assert ("   Data: sleepstudy\n" if ext == "" else "   Data: sleep.study\n") in r.stdout


@pytest.mark.parametrize("name", ["data.json", "data.sav", "data.rds", "data.parquet.gz"])
def test_a_file_type_it_does_not_read_is_refused_by_name(tmp_path, name):
    path, r = _fit_file(tmp_path, name, b"a,b\n1,2\n")       # refused by its name, before it is read
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"fastmme: error: {path}: fastmme reads .csv") and "Traceback" not in r.stderr


def test_usage_errors_read_as_the_other_errors_and_python_m_fastmme_is_the_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fastmme", "fit", "x.csv"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.splitlines()[-1] == \
        "fastmme: error: the following arguments are required: --formula/-f"
    r = subprocess.run([sys.executable, "-m", "fastmme", "--version"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == f"fastmme {fastmme.__version__}"


@pytest.mark.parametrize("name", ["bad.parquet", "bad.feather", "bad.tsv.gz"])
def test_a_broken_file_of_a_type_it_reads_gives_a_message(tmp_path, name):
    path, r = _fit_file(tmp_path, name, b"PAR1" + os.urandom(300))
    assert r.returncode == 2 and r.stderr.startswith(f"fastmme: error: cannot read {path}") and "Traceback" not in r.stderr
