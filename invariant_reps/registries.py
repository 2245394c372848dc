"""What the name registries (methods, datasets, metrics) share: lookups with helpful errors."""

import difflib


def lookup(table, name, what):
    """Returns `table[name]`, or raises ValueError suggesting a close name and listing all of them.

    Args:
        table: the registry, `{name: entry}`.
        name: the name asked for.
        what: the kind of entry, singular ("method"), for the message.

    Example:
        >>> lookup({"end": 1, "irene": 2}, "ened", "method")
        ValueError: Unknown method 'ened'. Did you mean 'end'? Registered methods: end, irene.
    """
    if name not in table:
        hint = did_you_mean(name, table)
        raise ValueError(f"Unknown {what} {name!r}.{hint} Registered {what}s: {', '.join(sorted(table))}.")
    return table[name]


def did_you_mean(name, candidates, prefix=None):
    """`" Did you mean 'x'?"` for the closest of `candidates` (`" Did you mean --x?"` with prefix "--"), or ""."""
    close = difflib.get_close_matches(str(name), list(candidates), n=1)
    if not close:
        return ""
    return f" Did you mean {prefix}{close[0]}?" if prefix else f" Did you mean {close[0]!r}?"


def check_name(name, what):
    """Raises ValueError unless `name` is a lower-case identifier (a flag prefix and registry key)."""
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"A {what} name must be a lower-case identifier; received {name!r}.")
