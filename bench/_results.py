"""Writes one benchmark's section of bench/RESULTS.md, leaving the others alone.

Each benchmark owns a block delimited by

    <!-- section:NAME -->
    ...
    <!-- /section:NAME -->

and replaces only its own block, so benchmarks can be rerun in any order.
"""

import contextlib
import fcntl
import os
import pathlib
import re
import tempfile

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
_HEADER = (
    "# Benchmark results\n\n"
    "Each section is written by the benchmark named in it; rerun it to refresh.\n"
)
_SECTION_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def update_section(name, markdown, path="bench/RESULTS.md"):
    """Creates or replaces the section `name` of the results file.

    The file is created (with a short header) when absent; a missing section
    is appended; an existing one is replaced in place. Text outside the
    section is kept byte for byte. The update holds an exclusive lock and
    replaces the file atomically, so concurrent benchmarks do not clobber
    each other.

    Args:
        name: the section's name, letters, digits, `_`, `-` and `.`.
        markdown: the section's content (without the delimiters).
        path: the results file; a relative path is taken from the
            repository root, not the working directory.

    Returns:
        The `pathlib.Path` written.

    Example:
        >>> update_section("mi_estimators", "| estimator | nats |\\n|---|---|\\n| smile | 2.0 |")
    """
    if not _SECTION_NAME.match(name):
        raise ValueError(f"Section name must match {_SECTION_NAME.pattern}, got {name!r}.")
    path = pathlib.Path(path)
    if not path.is_absolute():
        path = REPO_ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    begin, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    with _locked(path):
        text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
        text = _replace_block(text, begin, end, block, path)
        _atomic_write(path, text)
    return path


def _replace_block(text, begin, end, block, path):
    has_begin, has_end = begin in text, end in text
    if has_begin != has_end or text.count(begin) > 1:
        raise ValueError(
            f"{path} has an unbalanced or repeated {begin!r} / {end!r} pair; fix it by hand."
        )
    if has_begin:
        start = text.index(begin)
        stop = text.index(end, start) + len(end)
        return text[:start] + block + text[stop:]
    return text.rstrip("\n") + "\n\n" + block + "\n"


@contextlib.contextmanager
def _locked(path):
    """Holds an exclusive lock on the results file's folder (no lock file left behind)."""
    descriptor = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def _atomic_write(path, text):
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    # mkstemp creates the file private (0600); results files are for everyone.
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
