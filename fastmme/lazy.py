"""Heavy modules imported on first use: a fit needs none of them (scipy.stats alone is about 20 MB
of resident memory, which counts against the peak of a million-row fit)."""


def scipy_stats():
    import scipy.stats
    return scipy.stats
