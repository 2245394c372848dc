"""The commands check their flags before TensorFlow loads; a library import still loads everything.

`invariant_reps._startup` decides when the package defers its import; the
flag modules of the commands mirror a few of the library's choices and
defaults without importing it (checked here against the library).
"""

import dataclasses
import os
import subprocess
import sys

import pytest

import invariant_reps
from invariant_reps import _startup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKER = "a heavy module was imported"


@pytest.mark.parametrize(
    "orig_argv, argv0, expected",
    [
        (["python3", "-m", "invariant_reps.train", "--epochs=1"], "-m", True),
        (["python3", "-X", "importtime", "-u", "-m", "invariant_reps.sweep"], "-m", True),
        (["python3", "-minvariant_reps.cli.evaluate"], "-m", True),
        (["python3", "-m", "pytest", "tests"], "-m", False),
        (["python3", "-m", "invariant_reps.trainer"], "-m", False),
        (["python3", "-c", "import invariant_reps"], "-c", False),
        (["python3", "my_script.py", "-m", "invariant_reps.train"], "my_script.py", False),
        (["/venv/bin/python3", "/venv/bin/invariant-reps-train", "--list"], "/venv/bin/invariant-reps-train", True),
        ([], "", False),
    ],
)
def test_started_as_command(orig_argv, argv0, expected):
    assert _startup.started_as_command(orig_argv, argv0) is expected


def test_a_library_import_loads_the_public_api():
    # Importing the package registers the custom Keras objects (keras.saving.load_model needs them).
    assert invariant_reps._loaded
    assert invariant_reps.EnD.__module__ == "invariant_reps.models.end"
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        invariant_reps.not_a_name  # noqa: B018


def _fake_heavy_modules(directory):
    """A directory whose `tensorflow` and `keras` packages fail to import, to put first on PYTHONPATH."""
    for name in ("tensorflow", "keras"):
        os.makedirs(directory / name)
        (directory / name / "__init__.py").write_text(f"raise ImportError({MARKER!r} + ': {name}')\n")
    return directory


@pytest.mark.parametrize(
    "module, args, message",
    [
        ("invariant_reps.train", ["--epochs=abc"], "flag --epochs=abc: invalid literal for int()"),
        ("invariant_reps.train", ["--epoch=3"], "Unknown command line flag 'epoch'. Did you mean --epochs?"),
        ("invariant_reps.train", ["--method=endd"], "Unknown method 'endd'. Did you mean 'end'? Registered methods: "),
        ("invariant_reps.train", ["--dataset=hepp"],
         "Unknown dataset 'hepp'. Did you mean 'hep'? Registered datasets: "),
        ("invariant_reps.train", ["--flagfile=flags/end_digits.cfg", "--learning_rate=nan"],
         "--learning_rate must be a finite number"),
        ("invariant_reps.train", ["--flagfile=flags/no_such.cfg"], "flags/no_such.cfg"),
        ("invariant_reps.train", ["--method=end", "--end_alpha=x"], "flag --end_alpha=x: could not convert"),
        ("invariant_reps.train", ["--method=end", "--end_alpha=-1"], "flag --end_alpha=-1: -1.0 is not a non-negative"),
        ("invariant_reps.train", ["--method=end", "--end_alph=1"],
         "Unknown flag --end_alph: method 'end' has no hyperparameter 'alph'; its hyperparameters are: --end_alpha,"),
        ("invariant_reps.train", ["--method=irene", "--irene_gamma=1e400"], "`gamma` must be a finite number"),
        ("invariant_reps.train", ["--experiment=no_such"], "No bundled experiment 'no_such'"),
        ("invariant_reps.sweep", ["--top_k=0"], "flag --top_k=0: 0 is not a positive integer"),
        ("invariant_reps.evaluate", ["--run_dir=x", "--max_examples=a"],
         "flag --max_examples=a: invalid literal for int()"),
        ("invariant_reps.estimate_mi", ["--run_dir=x", "--method=mime"],
         "flag --method=mime: value should be one of <mine|"),
        ("invariant_reps.estimate_mi", ["--run_dir=x", "--protocol=seed"], "Unknown --protocol value(s) ['seed']"),
    ],
)
def test_flag_errors_are_reported_before_tensorflow_loads(tmp_path, module, args, message):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_fake_heavy_modules(tmp_path)), ROOT]))
    completed = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert message in completed.stderr, completed.stderr[-2000:]
    assert MARKER not in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--logdir=/tmp/never-used", "--end_alpha=2"],
         "--end_alpha is a hyperparameter of method 'end', but --method=vanilla; the hyperparameters of 'vanilla' "
         "are: (none)."),
        (["--method=end"], "--logdir is required"),
    ],
)
def test_inconsistent_flags_are_reported_before_tensorflow_loads(tmp_path, args, message):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_fake_heavy_modules(tmp_path)), ROOT]))
    completed = subprocess.run(
        [sys.executable, "-m", "invariant_reps.train", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert message in completed.stderr, completed.stderr[-2000:]
    assert MARKER not in completed.stderr


def test_a_valid_command_line_goes_on_to_load_tensorflow(tmp_path):
    # The same fake modules: a command line that passes the early check does import TensorFlow next (so the
    # test above cannot pass merely because nothing ever imports it).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_fake_heavy_modules(tmp_path)), ROOT]))
    completed = subprocess.run(
        [sys.executable, "-m", "invariant_reps.train", "--epochs=1", "--end_alpha=2", "--method=end",
         f"--logdir={tmp_path / 'run'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode != 0
    assert MARKER in completed.stderr


def test_builtin_declarations_are_current():
    # Rendered in a fresh interpreter, so that no test's plug-in registration is counted.
    code = "import sys; from invariant_reps import _startup; sys.stdout.write(_startup.render_builtin_declarations())"
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    with open(_startup.DECLARATIONS_FILE) as file:
        recorded = file.read()
    assert completed.stdout == recorded, (
        "invariant_reps/_builtin_declarations.py is out of date: run `python -m invariant_reps._startup`."
    )
    assert set(_startup.BUILTIN_NAMES["method"]) >= {"vanilla", "end", "irene", "disco", "vib", "disenib"}


def test_flag_modules_mirror_the_library():
    from invariant_reps import estimators
    from invariant_reps.cli import estimate_mi_flags, evaluate_flags, sweep
    from invariant_reps.estimators import preprocessing
    from invariant_reps.evaluation import dt_tradeoff_mine, information_dynamics, ood, sweep_summary

    assert estimate_mi_flags.METHODS == estimators.METHODS
    assert estimate_mi_flags.DEFAULT_METHOD == information_dynamics.DEFAULT_METHOD
    assert estimate_mi_flags.PREPROCESSING == preprocessing.PREPROCESSING
    assert estimate_mi_flags.PROTOCOLS == information_dynamics.PROTOCOLS
    assert estimate_mi_flags.HELD_OUT == information_dynamics.HELD_OUT
    seed = dataclasses.asdict(dt_tradeoff_mine.DtTradeoffSettings())
    assert estimate_mi_flags.SEED_DT_TRADEOFF == {name: seed[name] for name in estimate_mi_flags.SEED_DT_TRADEOFF}
    assert evaluate_flags.ODIN_TEMPERATURE == ood.DEFAULT_TEMPERATURE
    assert evaluate_flags.ODIN_MAGNITUDE == ood.DEFAULT_MAGNITUDE
    assert sweep.SELECT_MODES == sweep_summary.MODES
