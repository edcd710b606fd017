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


@pytest.mark.parametrize("evaluator", ["dense", "cholmod"])
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
