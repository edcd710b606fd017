"""Heavy modules imported on first use: a fit needs none of them (scipy.stats is about 20 MB and
scipy.optimize 24 MB of resident memory, which count against the peak of a million-row fit; Newton
fits do not reach L-BFGS-B, and only profiles need a root finder)."""


def scipy_stats():
    import scipy.stats
    return scipy.stats


def scipy_optimize():
    import scipy.optimize
    return scipy.optimize
