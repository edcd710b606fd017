"""Old module paths (before the stage subpackages) and the public module names that are aliases.

`import fastmme.objective` still works: a finder at the front of sys.meta_path gives the module at its
new path (fastmme.evaluate.objective), the same object, with a DeprecationWarning that names the new
path.  The documented public modules (fastmme.dense, fastmme.pedigree, fastmme.genomic, fastmme.plots,
fastmme.breeding_data) are aliases without a warning; fastmme.simulate is lme4's simulate(fit) now, and
importing it as a module says where the breeding-data generator went.  Five old module names are now the names of
subpackages (fastmme.formula, .spec, .assembly, .optimize, .results); their old attributes are
forwarded by the package's __getattr__ (`forward`), with the same warning.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# old module (under fastmme.) → its module now
MOVED = {
    "cholmod": "linalg.cholmod",
    "checks": "spec.checks",
    "columns": "formula.columns",
    "em": "optimize.em",
    "evaluators": "evaluate.evaluators",
    "examples": "datasets.examples",
    "frame": "formula.frame",
    "inference": "results.inference",
    "information": "evaluate.information",
    "kernels": "linalg.kernels",
    "kernels.assemble": "linalg.kernels.assemble",
    "kernels.gradient": "linalg.kernels.gradient",
    "kernels.lambda_": "linalg.kernels.lambda_",
    "kernels.matvec": "linalg.kernels.matvec",
    "kernels.pairs": "linalg.kernels.pairs",
    "kernels.pedigree": "linalg.kernels.pedigree",
    "kernels.schur": "linalg.kernels.schur",
    "kernels.small": "linalg.kernels.small",
    "kernels.symbolic": "linalg.kernels.symbolic",
    "kernels.takahashi": "linalg.kernels.takahashi",
    "mixedfit": "results.mixedfit",
    "model": "api",
    "objective": "evaluate.objective",
    "partitioned": "distributed.partitioned",
    "pattern": "assembly.pattern",
    "predict": "results.predict",
    "relationship": "spec.relationship",
    "rsyntax": "formula.rsyntax",
    "rtransforms": "formula.rtransforms",
    "schur": "evaluate.schur",
    "sparse_fixed": "spec.sparse_fixed",
    "sparse_gradient": "evaluate.sparse_gradient",
    "start": "optimize.start",
    "summary": "results.summary",
    "system": "evaluate.system",
    "terms": "spec.terms",
    "theta_scale": "optimize.theta_scale",
}
# the documented public module names: aliases, no warning
PUBLIC = {
    "dense": "testing.dense",
    "genomic": "breeding.genomic",
    "pedigree": "breeding.pedigree",
    "plots": "results.plots",
    "breeding_data": "breeding.simulate",
}
# public names that changed meaning: importing the old module path says where it went
RENAMED = {
    "simulate": "fastmme.simulate is now lme4's simulate(fit, nsim, seed); the breeding-data generator that had "
                "this name is fastmme.breeding_data (from fastmme.breeding_data import population, …)",
}
# old modules whose names are subpackages now: the old attributes live in
REPLACED = {
    "assembly": "assembly.blocks",
    "formula": "formula.random_terms",
    "optimize": "optimize.minimize",
    "results": "results.fit",
    "spec": "spec.model_spec",
}


def _stacklevel() -> int:
    """warnings.warn's stacklevel (from _warn) that points at the importing code.  warnings.warn steps
    over importlib's frames itself when stacklevel > 1; the frames of this module are stepped here."""
    def internal(f):
        return "importlib" in f.f_code.co_filename and "_bootstrap" in f.f_code.co_filename

    def ours(f):                                  # this module, and importlib.import_module
        name = f.f_code.co_filename
        return name == __file__ or name.replace("\\", "/").endswith("importlib/__init__.py")
    frame, level = sys._getframe(1), 1            # _warn's frame
    while frame is not None and ours(frame):
        frame = frame.f_back
        while frame is not None and internal(frame):
            frame = frame.f_back
        level += 1
    return level


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new} (the stage subpackages); import it from there, or use the public "
                  "names of fastmme", DeprecationWarning, stacklevel=_stacklevel())


class _Aliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old and the public alias names; loads them as the module at the new path."""

    def find_spec(self, fullname, path=None, target=None):
        short = fullname[len("fastmme."):] if fullname.startswith("fastmme.") else None
        if short in RENAMED:
            raise ModuleNotFoundError(RENAMED[short], name=fullname)
        if short in MOVED or short in PUBLIC:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        short = spec.name[len("fastmme."):]
        new = "fastmme." + (MOVED.get(short) or PUBLIC[short])
        if short in MOVED:
            _warn(spec.name, new)
        module = importlib.import_module(new)
        self._real_spec = module.__spec__          # importlib sets module.__spec__ to the alias's spec
        return module

    def exec_module(self, module):
        module.__spec__ = self._real_spec


def install() -> None:
    if not any(isinstance(f, _Aliases) for f in sys.meta_path):
        sys.meta_path.insert(0, _Aliases())


def module_attribute(name: str):
    """fastmme.<name> for an old or public module name (the package's __getattr__)."""
    if name in MOVED or name in PUBLIC:
        return importlib.import_module(f"fastmme.{name}")
    raise AttributeError(f"module 'fastmme' has no attribute {name!r}")


class Simulate:
    """fastmme.simulate(fit, nsim=1, seed=None, use_u=False): lme4's simulate() of a fitted model, the
    same as fit.simulate(nsim, seed, use_u) (an lmm or a glmm fit).  The breeding-data generator that had
    this name is fastmme.breeding_data; its functions are still reachable as attributes here, with a
    DeprecationWarning."""

    def __call__(self, fit, nsim: int = 1, seed=None, use_u: bool = False) -> pd.DataFrame:
        from .errors import FastmmeError
        if not callable(getattr(fit, "simulate", None)):
            raise FastmmeError(f"simulate needs a fitted model (fastmme.lmm or fastmme.glmm); got {type(fit).__name__} "
                               "— simulated breeding data come from fastmme.breeding_data")
        return fit.simulate(nsim, seed, use_u)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(importlib.import_module("fastmme.breeding.simulate"), name)
        warnings.warn(f"fastmme.simulate.{name} is now fastmme.breeding_data.{name} (fastmme.simulate(fit) is lme4's "
                      "simulate)", DeprecationWarning, stacklevel=2)
        return value

    def __repr__(self) -> str:
        return "<function fastmme.simulate(fit, nsim=1, seed=None, use_u=False)>"


def forward(package: str):
    """The __getattr__ of a subpackage whose name an old module had: its old attributes, with a warning."""
    short = package[len("fastmme."):]
    target = "fastmme." + REPLACED[short]

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        module = importlib.import_module(target)
        if not hasattr(module, name):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        _warn(f"{package}.{name}", f"{target}.{name}")
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)       # warned once
        return value
    return __getattr__
