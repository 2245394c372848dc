"""Finite-sample part of bench/mi_estimators.py: every estimator on fixed samples.

Each case of `mi_cases` draws one fixed sample; every estimator is called the
way a user calls it, `estimate_mi(x, y, method=...)` with its defaults, and
the table records the estimate, its relative error against the truth, the
interval, whether it says `converged`, its warnings and its seconds.
"""

import dataclasses
import math
import statistics
import time
import warnings

import numpy as np

from invariant_reps.estimators import estimate_mi

ESTIMATORS = ("auto", "ksg", "lnc", "gaussian_copula", "gaussian", "binned",
              "smile", "infonce", "nwj", "mine", "club", "l1out")
# Lower bounds reported by their own definition; CLUB and L1Out are upper bounds.
UPPER_BOUNDS = ("club", "l1out")
FAILURE_THRESHOLD = 0.25


@dataclasses.dataclass
class Row:
    case: str
    group: str
    dims: str
    num_samples: int
    method: str
    true_mi: float
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan
    converged: bool = False
    warnings: tuple = ()
    seconds: float = math.nan
    selected: str = ""
    skipped: str = ""
    ceiling: float = math.nan
    source: str = ""

    @property
    def relative_error(self):
        return (self.estimate - self.true_mi) / self.true_mi

    @property
    def failed(self):
        return not math.isfinite(self.estimate) or abs(self.relative_error) > FAILURE_THRESHOLD

    @property
    def silent_failure(self):
        return self.failed and not self.warnings

    @property
    def invalid_but_converged(self):
        """NaN, negative, or above the InfoNCE / discrete ceiling, yet `converged`."""
        above = math.isfinite(self.ceiling) and self.estimate > self.ceiling + 1e-9
        return self.converged and (not math.isfinite(self.estimate) or self.estimate < 0 or above)


def skip_reason(method, dim):
    if method == "lnc" and dim > 10:
        return "needs k > d_x + d_y neighbours"
    if method in ("ksg", "lnc") and dim > 100:
        return "too slow"
    return ""


def run_case(case, num_samples, seed, methods, log=print):
    """Runs `methods` on one fixed sample of `case`; returns a list of `Row`."""
    x, y = case.sample(num_samples, seed)
    dim = (x.reshape(num_samples, -1).shape[1] + y.reshape(num_samples, -1).shape[1])
    rows = []
    for method in methods:
        row = Row(case.name, case.group, case.dims, num_samples, method, case.true_mi)
        row.skipped = skip_reason(method, dim)
        if not row.skipped:
            started = time.time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    result = estimate_mi(x, y, method=method, seed=seed)
                except ValueError as error:
                    row.skipped = f"ValueError: {str(error).split('.')[0]}"
                    result = None
            row.seconds = time.time() - started
            if result is not None:
                row.estimate = result.mi_nats
                row.low, row.high = result.interval
                row.converged = result.converged
                row.warnings = result.warnings
                row.selected = result.selected_method or ""
                if result.ceiling_nats is not None:
                    row.ceiling = result.ceiling_nats
            del caught
        rows.append(row)
        if row.skipped:
            log(f"    {method:16s} skipped: {row.skipped}")
        else:
            log(f"    {method:16s} {row.estimate:9.3f} ({row.relative_error:+7.1%}) "
                f"[{row.low:.3f}, {row.high:.3f}] conv={row.converged} "
                f"warnings={len(row.warnings)} {row.seconds:5.1f} s {row.selected}")
    return rows


def summary(rows):
    """Per estimator: median |rel. error|, failures, silent failures, invalid-but-converged."""
    lines = [
        "| estimator | cases run | median abs. rel. error | cases > 25% | of which without a "
        "warning | NaN, negative or above ceiling, marked converged | upper bound held "
        "(CLUB, L1Out) | mean seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in dict.fromkeys(row.method for row in rows):
        ran = [row for row in rows if row.method == method and not row.skipped]
        if not ran:
            continue
        errors = [abs(row.relative_error) if math.isfinite(row.estimate) else math.inf
                  for row in ran]
        failed = [row for row in ran if row.failed]
        lines.append(
            f"| {method} | {len(ran)} | {statistics.median(errors):.1%} | {len(failed)} | "
            f"{sum(row.silent_failure for row in failed)} | "
            f"{sum(row.invalid_but_converged for row in ran)} | "
            + (f"{sum(row.estimate >= row.true_mi for row in ran)} of {len(ran)} | "
               if method in UPPER_BOUNDS else "- | ")
            + f"{np.mean([row.seconds for row in ran]):.1f} |"
        )
    return "\n".join(lines)


def estimate_table(rows, methods):
    """One line per case, one column per estimator: estimate (rel. error), flags."""
    header = "| case | d_x+d_y | N | true MI | " + " | ".join(methods) + " |"
    lines = [header, "|---|---|---:|---:|" + "---:|" * len(methods)]
    keys = list(dict.fromkeys((row.case, row.dims, row.num_samples) for row in rows))
    for case, dims, size in keys:
        group = {row.method: row for row in rows
                 if (row.case, row.dims, row.num_samples) == (case, dims, size)}
        cells = []
        for method in methods:
            row = group.get(method)
            if row is None or row.skipped:
                cells.append("n/a")
                continue
            flag = "" if row.converged else " *"
            flag += f" w{len(row.warnings)}" if row.warnings else ""
            if not math.isfinite(row.estimate):
                cells.append(f"{row.estimate}{flag}")
            else:
                cells.append(f"{row.estimate:.2f} ({row.relative_error:+.0%}){flag}")
        true_mi = next(iter(group.values())).true_mi
        lines.append(f"| {case} | {dims} | {size} | {true_mi:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def auto_table(rows):
    """`method="auto"` in detail: choice, interval, warnings, seconds."""
    lines = [
        "| case | d_x+d_y | N | true MI | auto | rel. error | 95% interval | estimator used "
        "| converged | warnings | seconds |",
        "|---|---|---:|---:|---:|---:|---|---|:---:|---|---:|",
    ]
    for row in (row for row in rows if row.method == "auto"):
        warning_text = "; ".join(_short(message) for message in row.warnings) or "-"
        lines.append(
            f"| {row.case} | {row.dims} | {row.num_samples} | {row.true_mi:.3f} | "
            f"{row.estimate:.3f} | {row.relative_error:+.1%} | [{row.low:.3f}, {row.high:.3f}] | "
            f"{row.selected} | {'yes' if row.converged else 'no'} | {warning_text} | "
            f"{row.seconds:.1f} |"
        )
    return "\n".join(lines)


def misses(rows, method="auto"):
    """Text list of the cases where `method` is off by more than 25%."""
    failed = [row for row in rows if row.method == method and not row.skipped and row.failed]
    if not failed:
        return f"- `{method}`: no case off by more than {FAILURE_THRESHOLD:.0%}."
    return "\n".join(
        f"- `{method}` on {row.case} ({row.dims}, N={row.num_samples}): {row.estimate:.3f} vs "
        f"{row.true_mi:.3f} ({row.relative_error:+.1%}), "
        + (f"warned: {_short(row.warnings[0])}" if row.warnings else "**no warning**")
        for row in failed
    )


# The command of the full run whose CSV predates the `source` column.
FIRST_FULL_RUN = "python bench/mi_estimators.py --parts=finite,scale (2026-11-25)"


def read_csv(path):
    """The rows of a CSV written by `write_csv` (older files: `source` = FIRST_FULL_RUN)."""
    import csv

    rows = []
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            rows.append(Row(
                case=record["case"], group=record["group"], dims=record["dims"],
                num_samples=int(record["num_samples"]), method=record["method"],
                true_mi=float(record["true_mi"]), estimate=float(record["estimate"]),
                low=float(record["low"]), high=float(record["high"]),
                converged=record["converged"] == "True",
                warnings=tuple(record["warnings"].split(" | ")) if record["warnings"] else (),
                seconds=float(record["seconds"]), selected=record["selected"],
                skipped=record["skipped"], ceiling=float(record["ceiling"]),
                source=record.get("source") or FIRST_FULL_RUN,
            ))
    return rows


def merge(old_rows, new_rows):
    """`old_rows` with each `(case, dims, N, method)` row of `new_rows` replacing or appended.

    Several cases share a name at different dimensions ("Gaussian, 2 nats"
    in 1+1, 5+5 and 50+50), so the dimensions are part of the key.
    """
    new = {_key(row): row for row in new_rows}
    merged = [new.pop(_key(row), row) for row in old_rows]
    return merged + list(new.values())


def _key(row):
    return (row.case, row.dims, row.num_samples, row.method)


def provenance(rows):
    """Markdown list: how many rows each command produced, and for which estimators."""
    lines = []
    for source in dict.fromkeys(row.source for row in rows):
        chosen = [row for row in rows if row.source == source]
        methods = ", ".join(dict.fromkeys(row.method for row in chosen))
        lines.append(f"- {len(chosen)} rows ({methods}) from `{source}`")
    return "\n".join(lines)


def write_csv(rows, path):
    import csv
    import pathlib

    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fields = [field.name for field in dataclasses.fields(Row)] + ["relative_error"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            record = dataclasses.asdict(row)
            record["warnings"] = " | ".join(row.warnings)
            record["relative_error"] = row.relative_error
            writer.writerow(record)


def _short(message, length=90):
    message = message.replace("|", "/")
    return message if len(message) <= length else message[:length - 3] + "..."
