"""pytest-benchmark suites for the kernels (run: .venv/bin/python -m pytest benchmarks --benchmark-enable)."""
import numpy as np
import pytest

from fastmme.api import Model
from problems import crossed


@pytest.fixture(scope="module")
def model():
    y, X, terms, _ = crossed("100k")
    return Model(y, X, terms)


def test_assembly(benchmark):
    from fastmme.assembly.blocks import assemble, stack_terms
    from fastmme.assembly.pattern import ZtZPattern
    y, X, terms, _ = crossed("100k")
    codes, zcat = stack_terms(terms)
    pattern = ZtZPattern.from_codes(codes, [1, 1], [t.n_levels for t in terms])
    benchmark(assemble, pattern, codes, zcat, X, y, np.ones(len(y)))


def test_objective_evaluation(benchmark, model):
    rng = np.random.default_rng(0)
    benchmark(lambda: model.deviance(rng.uniform(0.3, 1.5, 2)))
