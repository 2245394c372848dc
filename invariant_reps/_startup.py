"""How the package starts: the commands check their flags before TensorFlow loads.

`import invariant_reps` imports the whole public API, which registers every
custom Keras object, so that `keras.saving.load_model` restores saved models.
That import loads TensorFlow (seconds; much longer on a loaded machine). When
the interpreter was started as one of the package's commands (`python -m
invariant_reps.train ...`, or an `invariant-reps-*` console script), the
package defers it: the command first parses and checks its own flags, reports a
bad one at once, and only then calls `invariant_reps.load_package()`.

This module imports nothing heavy (standard library only).
"""

import importlib
import os
import sys

from invariant_reps import _builtin_declarations

#: Modules that are commands (`python -m <module>`).
COMMAND_MODULES = frozenset(
    f"invariant_reps.{prefix}{name}"
    for prefix in ("", "cli.")
    for name in ("train", "sweep", "estimate_mi", "evaluate")
)
#: The console scripts of setup.cfg.
CONSOLE_SCRIPTS = frozenset(
    ("invariant-reps-train", "invariant-reps-sweep", "invariant-reps-estimate-mi", "invariant-reps-evaluate")
)

#: The package's own methods, datasets and networks, and the hyperparameters they declare, as
#: `_builtin_declarations.py` records them (generated from the registries by `python -m
#: invariant_reps._startup`; tests/cli/test_startup.py checks it is current), so that the commands check
#: these flags before TensorFlow loads. A user's registrations (`--import`) are checked after it is imported.
BUILTIN_NAMES = {
    "method": tuple(_builtin_declarations.METHODS),
    "dataset": tuple(_builtin_declarations.DATASETS),
    "network": _builtin_declarations.NETWORKS,
}
BUILTIN_HYPERPARAMETERS = {"method": _builtin_declarations.METHODS, "dataset": _builtin_declarations.DATASETS}
DECLARATIONS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_builtin_declarations.py")

# Interpreter options that consume the next argument (`python -X importtime -m ...`).
_OPTIONS_WITH_ARGUMENT = ("-X", "-W")


def started_as_command(orig_argv=None, argv0=None):
    """Whether this interpreter was started as one of the package's commands.

    Args:
        orig_argv: The interpreter's own command line (default `sys.orig_argv`).
        argv0: The script path (default `sys.argv[0]`), for console scripts.

    Returns:
        True for `python [options] -m <command module> ...` and for the
        `invariant-reps-*` console scripts; False otherwise (a library import,
        pytest, `python -c`, a user's script).
    """
    orig_argv = list(getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv)
    argv0 = (sys.argv[0] if sys.argv else "") if argv0 is None else argv0
    args = iter(orig_argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, None) in COMMAND_MODULES
        if arg.startswith("-m"):
            return arg[2:] in COMMAND_MODULES
        if arg in _OPTIONS_WITH_ARGUMENT:
            next(args, None)
        elif arg == "-c" or not arg.startswith("-"):
            break  # `python -c CODE` or `python script.py`
    return os.path.basename(argv0) in CONSOLE_SCRIPTS


def load_and_call(module_name, argv):
    """Loads the package (registering its custom Keras objects), then returns `<module_name>.main(argv)`.

    The `main` of a command whose flags were checked before TensorFlow loaded.
    """
    import invariant_reps

    invariant_reps.load_package()
    return importlib.import_module(module_name).main(argv)


def render_builtin_declarations():
    """The text of `_builtin_declarations.py`, from the registries (imports the package: TensorFlow)."""
    import invariant_reps

    invariant_reps.load_package()
    from invariant_reps.data import registry as datasets
    from invariant_reps.models import registry as methods
    from invariant_reps.networks import registry as networks

    def hyperparameter(h):
        arguments = [repr(h.name), h.type.__name__, repr(h.default), repr(h.help)]
        arguments += [f"{key}={getattr(h, key)!r}" for key in ("lower", "upper", "choices")
                      if getattr(h, key) is not None]
        return f"        H({', '.join(arguments)}),"

    def table(title, specs):
        lines = [f"{title} = {{"]
        for spec in specs:
            lines += [f"    {spec.name!r}: (", *map(hyperparameter, spec.hyperparameters), "    ),"]
        return lines + ["}"]

    lines = [
        '"""The package\'s own methods, datasets and networks, and their declared hyperparameters.',
        "",
        "Generated from the registries by `python -m invariant_reps._startup`; do not edit (see `_startup.py`).",
        '"""',
        "",
        "from invariant_reps.hyperparameters import Hyperparameter as H",
        "",
        *table("METHODS", [methods.get_method(name) for name in methods.available_methods()]),
        *table("DATASETS", [datasets.get_dataset(name) for name in datasets.available_datasets()]),
        f"NETWORKS = {tuple(networks.available_networks())!r}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = render_builtin_declarations()
    with open(DECLARATIONS_FILE, "w") as file:
        file.write(text)
    print(f"Wrote {DECLARATIONS_FILE}.")
