"""Files the package reads at run time: the TensorBoard layout and the bundled flagfiles.

In a source checkout (or an editable install) they are the repository's
`tensorboard_configs/` and `flags/`; a built wheel carries copies of both in
`invariant_reps/_resources/` (see setup.py), so an installed package works from
any directory.
"""

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = (
    os.path.join(_PACKAGE_DIR, "_resources"),  # a built wheel
    os.path.dirname(_PACKAGE_DIR),  # a source checkout
)


def resource_dir(name):
    """The directory `name` ("tensorboard_configs" or "flags"), or None when neither copy exists."""
    for base in _CANDIDATES:
        path = os.path.join(base, name)
        if os.path.isdir(path):
            return path
    return None


def layout_path():
    """Path of the shipped custom-scalar layout JSON, or None."""
    directory = resource_dir("tensorboard_configs")
    return None if directory is None else os.path.join(directory, "custom_scalars.json")


def bundled_flagfile(experiment):
    """Path of the bundled flagfile `flags/<experiment>.cfg`; ValueError lists the available ones."""
    directory = resource_dir("flags")
    available = sorted(f[:-4] for f in os.listdir(directory) if f.endswith(".cfg")) if directory else []
    if experiment not in available:
        raise ValueError(
            f"No bundled experiment {experiment!r}; available: {', '.join(available) or '(none shipped)'}."
        )
    return os.path.join(directory, f"{experiment}.cfg")


def expand_experiment(experiment, workdir):
    """Writes the bundled flagfiles into `workdir` with their cross-references made absolute.

    Flagfiles name each other as `--flagfile=flags/<name>.cfg`, relative to the
    repository root; this rewrites those references to `workdir`, so a bundled
    experiment runs from any directory.

    Returns:
        The path of `<workdir>/<experiment>.cfg`.
    """
    bundled_flagfile(experiment)  # Validates the name.
    source = resource_dir("flags")
    for name in os.listdir(source):
        if name.endswith(".cfg"):
            with open(os.path.join(source, name)) as f:
                text = f.read().replace("--flagfile=flags/", f"--flagfile={workdir}/")
            with open(os.path.join(workdir, name), "w") as f:
                f.write(text)
    return os.path.join(workdir, f"{experiment}.cfg")
