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
        close = difflib.get_close_matches(str(name), list(table), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown {what} {name!r}.{hint} Registered {what}s: {', '.join(sorted(table))}.")
    return table[name]


def check_name(name, what):
    """Raises ValueError unless `name` is a lower-case identifier (a flag prefix and registry key)."""
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"A {what} name must be a lower-case identifier; received {name!r}.")
