#!/usr/bin/env python3
"""Independent Clopper-Pearson bounds for tests/test_calibrate.c (exact intervals).

Each bound solves the binomial tail equation directly, not through a beta quantile routine:
the lower bound p_L of k successes in n trials solves P(X >= k | n, p_L) = 0.025 and the upper
bound p_U solves P(X <= k | n, p_U) = 0.025, that is P(X >= k + 1 | n, p_U) = 0.975. In
60-digit arithmetic (mpmath) the tail is a sum of binomial probabilities, from the cut towards
the far end (or its complement, towards 0) until the terms fall below 1e-50 of the sum, each
term from its neighbour; the root is found by Newton's method with the exact derivative
d/dp P(X >= k) = n C(n-1, k-1) p^(k-1) (1-p)^(n-k), started from SciPy's beta quantile (Boost's
ibeta_inv), or from bisection where SciPy is missing, until the step is below 1e-40.
The script reports how far Boost's values were from these. Prints the table the test embeds:
    python3 tests/exact_ci_reference.py
"""
import mpmath as mp

mp.mp.dps = 60
ALPHA = mp.mpf("0.05")
CASES = [
    (0, 1), (1, 1), (0, 10), (10, 10), (1, 10), (5, 10), (9, 10), (1, 503), (3, 503),
    (250, 503), (502, 503), (7, 100000), (12345, 99999), (3, 821426), (2, 10**7),
    (40000, 10**7), (1, 10**8), (5, 10**8), (10**6, 10**8), (5 * 10**7, 10**8),
    (10**8 - 3, 10**8), (10**8, 10**8), (0, 10**8),
]


def log_pmf(j, n, p):
    return (mp.loggamma(n + 1) - mp.loggamma(j + 1) - mp.loggamma(n - j + 1)
            + j * mp.log(p) + (n - j) * mp.log1p(-p))


def tail_ge(k, n, p):
    """P(X >= k) for X ~ Binomial(n, p), 1 <= k <= n."""
    ratio = p / (1 - p)
    eps = mp.mpf(10) ** -50
    if k > (n + 1) * p:  # above the mode: terms fall from j = k upwards
        t, s, j = mp.exp(log_pmf(k, n, p)), mp.mpf(0), k
        while j <= n:
            s += t
            if t < eps * s:
                break
            t *= mp.mpf(n - j) / (j + 1) * ratio
            j += 1
        return s
    # at or below the mode: 1 - P(X < k), terms fall from j = k - 1 downwards
    t, s, j = mp.exp(log_pmf(k - 1, n, p)), mp.mpf(0), k - 1
    while j >= 0:
        s += t
        if t < eps * s:
            break
        t *= mp.mpf(j) / (n - j + 1) / ratio
        j -= 1
    return 1 - s


def d_tail_ge(k, n, p):
    return n * mp.exp(log_pmf(k - 1, n - 1, p))


def solve(k, n, target, start):
    """The p where P(X >= k | n, p) = target (it increases in p)."""
    if start is None:  # bisection on log(p / (1 - p)) to a few digits first
        lo, hi = mp.mpf(-200), mp.mpf(200)
        for _ in range(60):
            mid = (lo + hi) / 2
            if tail_ge(k, n, 1 / (1 + mp.exp(-mid))) < target:
                lo = mid
            else:
                hi = mid
        start = 1 / (1 + mp.exp(-(lo + hi) / 2))
    p = mp.mpf(start)
    for _ in range(50):
        step = (tail_ge(k, n, p) - target) / d_tail_ge(k, n, p)
        p -= step
        if abs(step) < mp.mpf(10) ** -40 * p:
            return p
    raise RuntimeError("no convergence for k=%d n=%d" % (k, n))


def boost_bounds(k, n):
    try:
        from scipy.stats import beta
    except ImportError:
        return None, None
    lo = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def fmt(x):
    return mp.nstr(x, 20, min_fixed=0, max_fixed=0)


if __name__ == "__main__":
    worst = 0.0
    for k, n in CASES:
        blo, bhi = boost_bounds(k, n)
        lo = mp.mpf(0) if k == 0 else solve(k, n, ALPHA / 2, blo)
        hi = mp.mpf(1) if k == n else solve(k + 1, n, 1 - ALPHA / 2, bhi)
        if blo is not None:
            for a, b in ((lo, blo), (hi, bhi)):
                if a > 0:
                    worst = max(worst, float(abs(b - a) / a))
        print("    {%d., %d., %s, %s}," % (k, n, fmt(lo), fmt(hi)))
    print("/* SciPy's (Boost's) beta quantiles against these: max relative difference %.1e */"
          % worst)
