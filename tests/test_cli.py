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
    loud = Progress(stream=io.StringIO(), enabled=True, interval=0.0)
    loud(5, 123.456)
    assert "5 evaluations" in loud.stream.getvalue() and "123.456" in loud.stream.getvalue()
