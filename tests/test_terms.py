import numpy as np
import pytest

from fastmme import FastmmeError, Term


def test_unstructured_theta_fills_lower_triangle_by_column():
    t = Term(np.repeat([0, 1, 2], 4), z=np.ones((12, 3)))
    assert t.n_theta == 6
    T = t.lambda_block([1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(T, [[1, 0, 0], [2, 4, 0], [3, 5, 6]])
    np.testing.assert_array_equal(t.theta_lower(), [0, -np.inf, -np.inf, 0, -np.inf, 0])
    np.testing.assert_array_equal(t.theta_start(), [1, 0, 0, 1, 0, 1])


def test_diagonal_and_identity_structures():
    z = np.ones((12, 2))
    d = Term(np.repeat([0, 1, 2], 4), z=z, structure="diagonal")
    np.testing.assert_array_equal(d.lambda_block([2, 3]), np.diag([2, 3]))
    i = Term(np.repeat([0, 1, 2], 4), z=z, structure="identity")
    assert i.n_theta == 1
    np.testing.assert_array_equal(i.lambda_block([2]), 2 * np.eye(2))


def test_labels_are_kept_and_sorted():
    t = Term(np.array(["b", "a", "c", "a"]))
    assert list(t.levels) == ["a", "b", "c"]
    np.testing.assert_array_equal(t.codes, [1, 0, 2, 0])


def test_lme4_theta_names():
    t = Term(np.repeat([0, 1], 3), z=np.ones((6, 2)), z_names=["(Intercept)", "Days"])
    assert t.theta_names("Subject") == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]


@pytest.mark.parametrize("bad", [dict(structure="banded"), dict(z=np.ones((3, 1))), dict(z=np.full((4, 1), np.nan))])
def test_bad_term_arguments(bad):
    with pytest.raises(FastmmeError):
        Term(np.array([0, 1, 0, 1]), **bad)
