# SPDX-License-Identifier: MIT
"""Statistics the benchmark scripts share: the geometric mean of paired
ratios and its bootstrap interval."""
import math
import random
import statistics


def gmean(x):
    return math.exp(statistics.mean(math.log(v) for v in x))


def bootstrap_gm(x, n=5000):
    """The 2.5th and 97.5th percentiles of the geometric mean of `x`
    resampled with replacement (fixed seed: the same data, the same
    interval)."""
    rng = random.Random(1)
    g = sorted(gmean([rng.choice(x) for _ in x]) for _ in range(n))
    return g[int(0.025 * n)], g[int(0.975 * n) - 1]
