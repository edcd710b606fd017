"""θ in units free of the covariates' scale (fastmme/optimize/theta_scale.py): a random slope on a covariate in large
or small units reaches the same optimum as on the covariate itself.

Before, sleepstudy with Days × 10⁴ in `(1 | Subject) + (0 + D | Subject)` stopped at θ_D = 0, 42.8 above the
optimum, and reported convergence (the optimiser's thresholds are absolute in θ, and θ_D was 2e-5)."""
import math

import numpy as np
import pytest

import fastmme
from fastmme.api import design_model
from fastmme.formula.frame import build_design
from fastmme.optimize.theta_scale import Scaled, theta_scale

FORMULAS = ["Reaction ~ D + (D | Subject)", "Reaction ~ D + (1 | Subject) + (0 + D | Subject)",
            "Reaction ~ D + (D || Subject)"]
SCALES = [1e-5, 1e-3, 1e2, 1e4, 1e5, 1e7]


@pytest.fixture(scope="module")
def sleep():
    return fastmme.datasets.load("sleepstudy")


def scaled_data(sleep, c):
    d = sleep.copy()
    d["D"] = d["Days"] * c
    return d


@pytest.fixture(scope="module")
def base(sleep):
    return {f: fastmme.lmm(f, scaled_data(sleep, 1.0)) for f in FORMULAS}


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("c", SCALES)
def test_same_optimum_at_any_covariate_scale(sleep, base, formula, c):
    """REML criterion + 2 log c (the fixed-effect column D is scaled too), θ of D's rows / c, and the same
    fixed-effect t values; the fit converged and says so."""
    ref, fit = base[formula], fastmme.lmm(formula, scaled_data(sleep, c))
    assert fit.converged, fit.core.certificate
    assert fit.core.deviance == pytest.approx(ref.core.deviance + 2 * math.log(c), abs=1e-6)
    ratio = fit.core.theta / ref.core.theta
    slope = ~np.isclose(ratio, 1.0, rtol=1e-4)             # the entries in D's row of T
    assert np.count_nonzero(slope) == (2 if "D |" in formula and "0 +" not in formula and "||" not in formula else 1)
    np.testing.assert_allclose(ratio[slope], 1.0 / c, rtol=1e-4)
    np.testing.assert_allclose(fit.core.beta / np.sqrt(np.diag(fit.core.beta_cov)),
                               ref.core.beta / np.sqrt(np.diag(ref.core.beta_cov)), rtol=1e-5)


def test_scale_factors_are_powers_of_two_for_badly_scaled_columns_only(sleep):
    """d per θ entry: 1 for the intercept and for Days (RMS 5.3); 2^k nearest the RMS for Days × 10⁴
    (RMS 5.3e4: 2^16), on D's row of T (entries (1,0) and (1,1) of the unstructured term)."""
    def scale(c, formula="Reaction ~ D + (D | Subject)"):
        return theta_scale(design_model(build_design(formula, scaled_data(sleep, c)), True)._objective)
    np.testing.assert_array_equal(scale(1.0), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(scale(1e4), [1.0, 2.0 ** 16, 2.0 ** 16])
    np.testing.assert_array_equal(scale(1e-4), [1.0, 2.0 ** -11, 2.0 ** -11])
    np.testing.assert_array_equal(scale(1e4, "Reaction ~ D + (1 | Subject) + (0 + D | Subject)"), [1.0, 2.0 ** 16])


def test_scaled_callables_agree_with_the_objective(sleep):
    """f̃(θ̃) = f(θ̃ / d), ∇̃ = ∇ / d and the AI matrix H / (d dᵀ), at a θ̃ away from the optimum."""
    obj = design_model(build_design("Reaction ~ D + (D | Subject)", scaled_data(sleep, 1e4)), True)._objective
    sc = Scaled.of(obj)
    th = np.array([0.8, 0.3, 1.1])
    v, g, H = sc.fgh(th)
    v0, g0, H0 = obj.deviance_and_gradient(th / sc.d, information=True)
    assert v == v0 == sc.f(th)
    np.testing.assert_array_equal(g, g0 / sc.d)
    np.testing.assert_array_equal(H, H0 / np.outer(sc.d, sc.d))
    eps = 1e-6                                # the scaled gradient is the gradient in θ̃: a central difference
    fd = [(sc.f(th + eps * e) - sc.f(th - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-5)


@pytest.mark.parametrize("c", [1e-3, 1e4])
def test_profile_intervals_at_any_covariate_scale(sleep, c):
    """confint(method="profile") on the scaled covariate: the unscaled intervals with D's sd and β divided by
    c (before, Days × 10⁴ ended in scipy's "f(a) and f(b) must have different signs")."""
    formula = "Reaction ~ D + (1 | Subject) + (0 + D | Subject)"
    ref = fastmme.lmm(formula, scaled_data(sleep, 1.0)).confint(method="profile")
    got = fastmme.lmm(formula, scaled_data(sleep, c)).confint(method="profile")
    scale = np.array([1.0 / c if "D" in name.split("|")[0] else 1.0 for name in ref.index])
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy() * scale[:, None], rtol=1e-4)
