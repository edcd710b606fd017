"""The evaluator protocol (fastmme/evaluate/evaluators.py): an objective and its evaluator form no reference cycle, so a
finished fit's blocks and workspace are freed at once (a cycle kept them until the garbage collector ran:
+18 MB peak over three InstEval fits in one process)."""
import gc
import weakref

import numpy as np
import pytest

import fastmme
from fastmme.api import design_model
from fastmme.formula.frame import build_design
from fastmme.evaluate.objective import ProfiledDeviance


@pytest.mark.parametrize("evaluator", ["schur", "cholmod"])
def test_an_objective_is_freed_without_the_garbage_collector(evaluator):
    spec = design_model(build_design("strength ~ 1 + (1 | batch) + (1 | batch:cask)",
                                     fastmme.datasets.load("Pastes")), True).spec
    gc.collect()
    gc.disable()
    try:
        obj = ProfiledDeviance(spec, evaluator=evaluator)
        assert obj.evaluator == evaluator
        obj.deviance_and_gradient(np.array([0.9, 2.1]), information=True)
        ref = weakref.ref(obj)
        del obj
        assert ref() is None
    finally:
        gc.enable()


def test_the_old_evaluator_name_dense_warns_and_means_schur():
    """'dense' named both the n × n oracle (fastmme.dense) and the Schur evaluator; the evaluator is now 'schur',
    and the old spelling still works with a DeprecationWarning (the same numbers)."""
    spec = design_model(build_design("strength ~ 1 + (1 | batch) + (1 | batch:cask)",
                                     fastmme.datasets.load("Pastes")), True).spec
    th = np.array([0.9, 2.1])
    with pytest.warns(DeprecationWarning, match="evaluator='schur'"):
        old = ProfiledDeviance(spec, evaluator="dense")
    new = ProfiledDeviance(spec, evaluator="schur")
    assert old.evaluator == new.evaluator == "schur" and old.deviance(th) == new.deviance(th)
    with pytest.warns(DeprecationWarning, match="ProfiledDeviance.schur"):
        assert old.dense is old.schur is not None
    with pytest.raises(fastmme.FastmmeError, match="'auto', 'cholmod' or 'schur'"):
        ProfiledDeviance(spec, evaluator="gls")
