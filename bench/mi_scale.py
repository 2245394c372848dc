"""Scale part of bench/mi_estimators.py: seconds and peak memory against N.

Each estimator runs on one correlated Gaussian sample per size. Peak memory
is measured two ways:

- the growth of the process's resident-set high-water mark (`VmHWM`) over
  the resident size before the call, after resetting the mark through
  `/proc/self/clear_refs` (Linux); it covers everything, the C++ trees of
  `cKDTree` included;
- the `tracemalloc` peak of Python and NumPy allocations.

The growth exponent `b` is the least-squares slope of `log(seconds)` on
`log(N)` over the sizes from `FIT_FROM` up; `N log N` growth shows as
`b` slightly above 1 (1.1 between 10^4 and 10^6).
"""

import dataclasses
import math
import os
import time
import tracemalloc

import numpy as np

from invariant_reps.estimators import binned_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import ksg_mi
from invariant_reps.estimators import lnc_mi
from invariant_reps.estimators import mixed_ksg_mi

FIT_FROM = 10_000


def estimators():
    """`(name, dims, function(x, y))` for the scale table."""
    return [
        ("ksg_mi (k=3)", 1, lambda x, y: ksg_mi(x, y, k=3)),
        ("lnc_mi (k=5)", 1, lambda x, y: lnc_mi(x, y, k=5)),
        ("mixed_ksg_mi (4 classes)", 1,
         lambda x, y: mixed_ksg_mi(x, np.digitize(y[:, 0], [-1.0, 0.0, 1.0]))),
        ("binned_mi (64 quantile bins)", 1,
         lambda x, y: binned_mi(x, y, bins=64, strategy="quantile")),
        ("binned_mi (k-means 64 cells)", 2,
         lambda x, y: binned_mi(x, y, bins=64, quantizer="kmeans")),
        ("ksg_mi (k=3)", 2, lambda x, y: ksg_mi(x, y, k=3)),
    ]


@dataclasses.dataclass
class Timing:
    name: str
    dims: int
    num_samples: int
    seconds: float
    rss_mib: float
    traced_mib: float
    estimate: float


def measure(name, dims, function, num_samples, seed=0):
    x, y = ground_truth.correlated_gaussian(num_samples, dims, 0.8, seed=seed)
    before = _resident_mib()
    _reset_high_water_mark()
    tracemalloc.start()
    started = time.perf_counter()
    estimate = function(x, y)
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _high_water_mib()
    rss = peak - before if math.isfinite(peak) and math.isfinite(before) else math.nan
    return Timing(name, dims, num_samples, seconds, rss, traced_peak / 2**20, float(estimate))


def growth_exponent(timings):
    sizes = np.array([t.num_samples for t in timings if t.num_samples >= FIT_FROM], dtype=float)
    seconds = np.array([t.seconds for t in timings if t.num_samples >= FIT_FROM])
    if sizes.size < 2:
        return math.nan
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def run(sizes, budget_seconds, log=print):
    """Times every estimator on `sizes`; a size is skipped once one run exceeds the budget."""
    results = {}
    for name, dims, function in estimators():
        key = (name, dims)
        results[key] = []
        for size in sizes:
            timing = measure(name, dims, function, size)
            results[key].append(timing)
            log(f"    {name} ({dims}+{dims}) N={size}: {timing.seconds:.2f} s, "
                f"+{timing.rss_mib:.0f} MiB RSS, {timing.traced_mib:.0f} MiB traced, "
                f"estimate {timing.estimate:.3f}")
            if timing.seconds > budget_seconds:
                log(f"    stopping {name} at N={size}: {timing.seconds:.0f} s > budget")
                break
    return results


def table(results, sizes):
    header = "| estimator | d_x+d_y | " + " | ".join(f"N={size:.0e}" for size in sizes) + \
        " | growth exponent (N >= 1e4) | peak memory at the largest N |"
    lines = [header, "|---|---|" + "---:|" * len(sizes) + "---:|---|"]
    for (name, dims), timings in results.items():
        by_size = {t.num_samples: t for t in timings}
        cells = [f"{by_size[s].seconds:.2f} s" if s in by_size else "skipped" for s in sizes]
        last = timings[-1]
        data_mib = 2 * dims * last.num_samples * 8 / 2**20
        memory = (f"+{last.rss_mib:.0f} MiB RSS, {last.traced_mib:.0f} MiB NumPy "
                  f"(N={last.num_samples:.0e}; the data: {data_mib:.0f} MiB)")
        lines.append(f"| {name} | {dims}+{dims} | " + " | ".join(cells) +
                     f" | {growth_exponent(timings):.2f} | {memory} |")
    return "\n".join(lines)


def _status_mib(field):
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return math.nan


def _resident_mib():
    return _status_mib("VmRSS")


def _high_water_mib():
    return _status_mib("VmHWM")


def _reset_high_water_mark():
    try:
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
