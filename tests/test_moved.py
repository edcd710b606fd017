"""The module paths before the stage subpackages still work (issue 16): the same module objects, with a
DeprecationWarning naming the new path; the documented public modules are aliases without a warning."""
import importlib
import subprocess
import sys
import warnings

import pytest

import fastmme
from fastmme._moved import MOVED, PUBLIC, REPLACED


def _fresh(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a new interpreter (the old names are imported once per process)."""
    return subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module(old):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(f"fastmme.{old}")
    assert module is importlib.import_module(f"fastmme.{MOVED[old]}")
    assert module.__spec__.name == f"fastmme.{MOVED[old]}"          # the module's own spec is kept
    assert sys.modules[f"fastmme.{old}"] is module


def test_old_path_warns_where_it_is_imported():
    r = _fresh("import fastmme.objective as o, fastmme.evaluate.objective as n; assert o is n")
    assert r.returncode == 0, r.stderr
    assert "<string>:1: DeprecationWarning: fastmme.objective moved to fastmme.evaluate.objective" in r.stderr


def test_from_package_import_of_an_old_module_warns():
    r = _fresh("from fastmme import cholmod; from fastmme.linalg import cholmod as c; assert cholmod is c")
    assert r.returncode == 0, r.stderr
    assert "<string>:1: DeprecationWarning: fastmme.cholmod moved to fastmme.linalg.cholmod" in r.stderr


@pytest.mark.parametrize("package", sorted(REPLACED))
def test_names_of_a_replaced_module_are_forwarded(package):
    """fastmme.optimize was a module and is a package now: its old names still resolve, with a warning."""
    target = importlib.import_module(f"fastmme.{REPLACED[package]}")
    name = next(n for n in vars(target) if not n.startswith("_") and getattr(target, n).__class__.__name__
                in ("function", "type"))
    r = _fresh(f"from fastmme.{package} import {name} as a; from fastmme.{REPLACED[package]} import {name} as b; "
               "assert a is b")
    assert r.returncode == 0, r.stderr
    assert f"DeprecationWarning: fastmme.{package}.{name} moved to fastmme.{REPLACED[package]}.{name}" in r.stderr
    with pytest.raises(AttributeError):
        getattr(importlib.import_module(f"fastmme.{package}"), "no_such_name")


def test_public_modules_are_aliases_without_a_warning():
    code = "; ".join(f"import fastmme.{p} as m{i}, fastmme.{new} as n{i}; assert m{i} is n{i}"
                     for i, (p, new) in enumerate(sorted(PUBLIC.items())))
    i = sorted(PUBLIC).index("dense")
    r = _fresh(code + f"; import fastmme; assert fastmme.dense is n{i}")
    assert r.returncode == 0, r.stderr
    assert "DeprecationWarning" not in r.stderr, r.stderr
    for name in PUBLIC:
        assert getattr(fastmme, name) is importlib.import_module(f"fastmme.{PUBLIC[name]}")


def test_monkeypatching_an_old_path_reaches_the_code(monkeypatch):
    """The old path is the same module object, so a patch through it is seen by the code that runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("fastmme.objective")
    from fastmme.evaluate import objective
    monkeypatch.setattr(old, "MAX_DENSE", 7)
    assert objective.MAX_DENSE == 7


def test_unknown_attributes_are_errors():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        fastmme.nonexistent
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("fastmme.nonexistent")
