"""`invariant_reps.sweep`: search specs, planning, resume, failures, outputs, TensorBoard hparams.

Most tests drive `sweep.main` in-process against a stand-in trainer (a tiny
script that writes a scripted `results.json` per `--alpha`); the last one runs
the real `python -m invariant_reps.sweep` over two tiny real trainings.
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from absl import app
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

from invariant_reps.cli import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAKE_TRAINER = textwrap.dedent('''
    """Stand-in for `invariant_reps.train`: writes results.json from the outcome scripted for --alpha."""
    import json, os, sys

    args = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
    assert os.path.isfile(args["flagfile"]), args
    os.makedirs(args["logdir"], exist_ok=True)
    with open(os.path.join(args["logdir"], "invocations.txt"), "a") as f:
        f.write(" ".join(sys.argv[1:]) + "\\n")
    with open(args["script"]) as f:
        outcome = json.load(f)[args["alpha"]]
    if outcome.get("fail"):
        sys.exit("ValueError: scripted failure for alpha=" + args["alpha"])
    epochs = list(range(1, len(outcome["val"]) + 1))
    results = {
        "method": "end", "dataset": "biased_mnist", "source": "digits", "rho": 0.999, "seed": 42,
        "epochs": len(epochs),
        "final": {"unbiased_test_accuracy": outcome["unbiased"][-1], "leakage_accuracy": outcome["leakage"]},
        "history": {"epoch": epochs, "val_accuracy": outcome["val"], "unbiased_test_accuracy": outcome["unbiased"],
                    "biased_test_accuracy": [0.9] * len(epochs)},
        "seconds_per_epoch": 0.5, "flags": args,
    }
    with open(os.path.join(args["logdir"], "results.json"), "w") as f:
        json.dump(results, f)
''')

# Per --alpha: validation and unbiased accuracy per epoch. Ranked by the best
# validation accuracy, the top 3 are alpha=3 (0.95, epoch 1), alpha=1 (0.90,
# epoch 2) and alpha=4 (0.89 at epochs 2 and 3: the tie goes to epoch 2), with
# unbiased accuracies 0.5563, 0.5110, 0.5017 at those epochs: EnD's 52.30 ± 2.39.
SCRIPT = {
    "1": {"val": [0.80, 0.90, 0.85], "unbiased": [0.40, 0.5110, 0.45], "leakage": 0.3},
    "2": {"val": [0.70, 0.75, 0.80], "unbiased": [0.90, 0.90, 0.99], "leakage": 0.2},
    "3": {"val": [0.95, 0.93, 0.94], "unbiased": [0.5563, 0.30, 0.30], "leakage": 0.1},
    "4": {"val": [0.88, 0.89, 0.89], "unbiased": [0.10, 0.5017, 0.20], "leakage": 0.4},
    "5": {"fail": True},
}


@pytest.fixture
def fake_trainer(tmp_path, monkeypatch):
    """Base flags for a sweep over the stand-in trainer; returns them as argv."""
    (tmp_path / "fake_train.py").write_text(FAKE_TRAINER)
    (tmp_path / "script.json").write_text(json.dumps(SCRIPT))
    (tmp_path / "base.cfg").write_text("--method=end\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return [
        f"--flagfile={tmp_path / 'base.cfg'}",
        f"--sweep_dir={tmp_path / 'sweep'}",
        "--train_module=fake_train",
        f"--train_flags=--script={tmp_path / 'script.json'}",
    ]


@pytest.fixture
def run_sweep():
    """Parses argv as the command line does, then runs `sweep.main`; returns its exit status."""

    def call(*argv):
        sweep.FLAGS.unparse_flags()
        sweep.parse_flags(["sweep", *argv])
        return sweep.main(["sweep"])

    yield call
    sweep.FLAGS.unparse_flags()


def _invocations(sweep_dir, run_id):
    with open(os.path.join(sweep_dir, run_id, "invocations.txt")) as f:
        return len(f.readlines())


# ------------------------------------------------------------- search specs
def test_grid_specs_parse_to_one_type():
    assert sweep.parse_grid_spec("alpha=0.1,1,10") == sweep.Dimension("alpha", "grid", values=(0.1, 1.0, 10.0))
    assert sweep.parse_grid_spec("epochs=5, 10").values == (5, 10)
    assert sweep.parse_grid_spec("deterministic=true,False").values == (True, False)
    assert sweep.parse_grid_spec("network=mlp,simple_conv").values == ("mlp", "simple_conv")
    assert sweep.parse_grid_spec("--beta=0.5").name == "beta"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("alpha", "Ill-formed spec 'alpha'; expected NAME=V1,V2,"),
        ("alpha=", "Ill-formed spec"),
        ("1alpha=1,2", "Ill-formed spec"),
        ("alpha=1,,2", "Empty value in spec 'alpha=1,,2'"),
        ("alpha=1,1.0", "Repeated value"),
        ("logdir=a,b", "--logdir is set by the sweep itself"),
    ],
)
def test_bad_grid_specs(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        sweep.parse_grid_spec(spec)


def test_space_specs():
    assert sweep.parse_space_spec("alpha=loguniform:0.01:50") == sweep.Dimension(
        "alpha", "loguniform", low=0.01, high=50.0
    )
    assert sweep.parse_space_spec("beta=uniform:-1:1") == sweep.Dimension("beta", "uniform", low=-1.0, high=1.0)
    assert sweep.parse_space_spec("epochs=int:10:80") == sweep.Dimension("epochs", "int", low=10, high=80)
    assert sweep.parse_space_spec("network=choice:mlp|simple_conv").values == ("mlp", "simple_conv")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("alpha=gaussian:0:1", "Unknown distribution 'gaussian'"),
        ("alpha=uniform:0", "needs two numeric bounds LOW:HIGH"),
        ("alpha=uniform:a:b", "needs two numeric bounds LOW:HIGH"),
        ("epochs=int:1.5:3", "needs two integer bounds LOW:HIGH"),
        ("alpha=uniform:1:1", "out of order; expected NAME=uniform:LOW:HIGH  (LOW < HIGH)"),
        ("alpha=loguniform:0:1", "out of order; expected NAME=loguniform:LOW:HIGH  (0 < LOW < HIGH)"),
        ("epochs=int:5:4", "out of order"),
        ("net=choice:a||b", "Empty value"),
    ],
)
def test_bad_space_specs(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        sweep.parse_space_spec(spec)


def test_unknown_distribution_lists_every_valid_form():
    with pytest.raises(ValueError) as error:
        sweep.parse_space_spec("alpha=normal:0:1")
    for form in sweep.SPACE_FORMS.values():
        assert form in str(error.value)


# ----------------------------------------------------------------- planning
def test_grid_plan_is_the_cartesian_product_first_dimension_slowest():
    plan = sweep.plan_runs([sweep.parse_grid_spec("alpha=0.1,1,10"), sweep.parse_grid_spec("beta=0.1,1")])
    assert [run_id for run_id, _ in plan] == [f"run_{i:03d}" for i in range(6)]
    assert [tuple(p.values()) for _, p in plan] == [
        (0.1, 0.1), (0.1, 1.0), (1.0, 0.1), (1.0, 1.0), (10.0, 0.1), (10.0, 1.0)
    ]


def test_random_plan_is_seeded_bounded_typed_and_extensible():
    space = [
        sweep.parse_space_spec("alpha=loguniform:0.01:50"),
        sweep.parse_space_spec("beta=uniform:0:1"),
        sweep.parse_space_spec("epochs=int:1:3"),
        sweep.parse_space_spec("network=choice:mlp|simple_conv"),
    ]
    plan = sweep.plan_runs(space, num_random=200, seed=0)
    values = {name: [p[name] for _, p in plan] for name in ("alpha", "beta", "epochs", "network")}
    assert all(0.01 <= a <= 50 and isinstance(a, float) for a in values["alpha"])
    # Log-uniform: about half the draws fall below the geometric midpoint sqrt(0.01 * 50) = 0.707.
    assert 0.35 < np.mean(np.array(values["alpha"]) < np.sqrt(0.5)) < 0.65
    assert all(0 <= b <= 1 for b in values["beta"])
    assert set(values["epochs"]) == {1, 2, 3} and all(type(e) is int for e in values["epochs"])
    assert set(values["network"]) == {"mlp", "simple_conv"}
    assert sweep.plan_runs(space, num_random=200, seed=0) == plan
    assert sweep.plan_runs(space, num_random=10, seed=0) == plan[:10]
    assert sweep.plan_runs(space, num_random=10, seed=1) != plan[:10]


# ------------------------------------------------------------- command line
def test_flagfile_names_the_training_flagfile_and_bad_specs_fail_parsing(capsys):
    try:
        sweep.parse_flags(["sweep", "--flagfile=flags/x.cfg", "--sweep_dir=/tmp/s", "--grid=alpha=1,2"])
        assert sweep.FLAGS.train_flagfile == "flags/x.cfg"
        sweep.FLAGS.unparse_flags()
        with pytest.raises(SystemExit):
            sweep.parse_flags(["sweep", "--flagfile=x", "--space=alpha=normal:0:1"])
        assert "Unknown distribution 'normal'" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            sweep.parse_flags(["sweep", "--flagfile=x", "--train_flags=--logdir=/tmp"])
        assert "--name=value flags other than --logdir; found '--logdir=/tmp'" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            sweep.parse_flags(["sweep", "--flagfile=x", "--train_flags='--epochs=1"])
        assert "cannot be split: No closing quotation" in capsys.readouterr().err
    finally:
        sweep.FLAGS.unparse_flags()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--grid=alpha=1,2", "--random_search=2", "--space=beta=uniform:0:1"], "not both"),
        ([], "Give --grid=NAME=V1,V2"),
        (["--random_search=3"], "--random_search=N with --space"),
        (["--grid=alpha=1,2", "--grid=alpha=3"], "--alpha is given twice"),
        (["--grid=alpha=1,2", "--train_flags=--alpha=3"], "--alpha is given twice"),
    ],
)
def test_inconsistent_sweeps_are_usage_errors(run_sweep, fake_trainer, argv, message):
    with pytest.raises(app.UsageError, match=message):
        run_sweep(*fake_trainer, *argv)


def test_missing_flagfile_is_a_usage_error(run_sweep, tmp_path):
    with pytest.raises(app.UsageError, match="Training flagfile .*nope.cfg' not found"):
        run_sweep(f"--flagfile={tmp_path / 'nope.cfg'}", f"--sweep_dir={tmp_path}", "--grid=alpha=1")


def test_dry_run_prints_the_commands_and_runs_nothing(run_sweep, fake_trainer, tmp_path, capsys):
    assert run_sweep(*fake_trainer, "--grid=alpha=1,3", "--grid=beta=0.5", "--dry_run") == 0
    out = capsys.readouterr().out
    assert "run_001  alpha=3 beta=0.5" in out
    assert f"-m fake_train --flagfile={tmp_path / 'base.cfg'} --logdir={tmp_path / 'sweep' / 'run_001'}" in out
    assert "--alpha=3 --beta=0.5" in out and "2 planned runs." in out
    assert not (tmp_path / "sweep").exists()


# -------------------------------------------------------- sweeping (stand-in)
def test_sweep_selects_best_epochs_and_reports_the_top_3(run_sweep, fake_trainer, tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    assert run_sweep(*fake_trainer, "--grid=alpha=1,2,3,4,5") == 0
    out = capsys.readouterr().out
    assert "[3/5] run_002 alpha=3 ... done: best epoch 1, val_accuracy=0.95, unbiased_test_accuracy=0.5563" in out
    assert "[5/5] run_004 alpha=5 ... FAILED (exit status 1, log " in out
    assert "scripted failure for alpha=5" in out and "1 of 5 runs failed." in out

    with open(sweep_dir / "results.csv") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    assert [rows[r]["best_epoch"] for r in sorted(rows)] == ["2", "3", "1", "2", ""]
    assert rows["run_003"]["unbiased_test_accuracy"] == "0.5017"
    assert rows["run_003"]["leakage_accuracy"] == "0.4"  # Only final: read from "final".
    assert rows["run_003"]["seconds_per_epoch"] == "0.5"
    assert rows["run_004"]["status"] == "failed" and "scripted failure" in rows["run_004"]["error"]
    assert "| run_002 | 3 | ok | 1 | 0.95 | 0.5563 | 0.9 | 0.1 | 0.5 |" in (sweep_dir / "results.md").read_text()

    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert [row["run"] for row in summary["top_runs"]] == ["run_002", "run_000", "run_003"]
    assert summary["metrics"]["unbiased_test_accuracy"]["mean"] == pytest.approx(0.5230)
    assert summary["metrics"]["unbiased_test_accuracy"]["std"] == pytest.approx(0.023851, abs=1e-6)
    assert summary["metrics"]["leakage_accuracy"]["mean"] == pytest.approx((0.1 + 0.3 + 0.4) / 3)
    assert summary["num_failed"] == 1
    assert "| unbiased_test_accuracy (%) | 52.30 ± 2.39 |" in (sweep_dir / "summary.md").read_text()
    assert "| unbiased_test_accuracy (%) | 52.30 ± 2.39 |" in out
    # Every run received the base flagfile, its logdir, --train_flags and its value.
    with open(sweep_dir / "run_000" / "invocations.txt") as f:
        assert f.read().split() == [
            f"--flagfile={tmp_path / 'base.cfg'}", f"--logdir={sweep_dir / 'run_000'}",
            f"--script={tmp_path / 'script.json'}", "--alpha=1",
        ]


def test_rerun_skips_finished_runs_and_retries_the_rest(run_sweep, fake_trainer, tmp_path, capsys):
    sweep_dir = str(tmp_path / "sweep")
    run_sweep(*fake_trainer, "--grid=alpha=1,3,5")
    os.remove(os.path.join(sweep_dir, "run_001", "results.json"))  # As if killed before writing it.
    assert run_sweep(*fake_trainer, "--grid=alpha=1,3,5") == 0
    assert "[1/3] run_000 alpha=1 ... already done: best epoch 2" in capsys.readouterr().out
    assert [_invocations(sweep_dir, r) for r in ("run_000", "run_001", "run_002")] == [1, 2, 2]


def test_a_different_sweep_in_the_same_dir_is_refused_but_a_longer_one_extends_it(
    run_sweep, fake_trainer, tmp_path
):
    sweep_dir = str(tmp_path / "sweep")
    space = ["--space=alpha=choice:1|2|3|4", "--sweep_seed=3"]
    run_sweep(*fake_trainer, "--random_search=2", *space)
    with pytest.raises(app.UsageError, match="holds a different sweep"):
        run_sweep(*fake_trainer, "--random_search=2", "--space=alpha=choice:1|2|3|4", "--sweep_seed=4")
    assert run_sweep(*fake_trainer, "--random_search=3", *space) == 0
    assert [_invocations(sweep_dir, r) for r in ("run_000", "run_001", "run_002")] == [1, 1, 1]


def test_exit_status_is_1_when_every_run_fails(run_sweep, fake_trainer, tmp_path):
    assert run_sweep(*fake_trainer, "--grid=alpha=5") == 1
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert summary["top_runs"] == [] and summary["metrics"]["unbiased_test_accuracy"]["mean"] is None


def test_unlogged_select_metric_fails_the_run_with_its_name(run_sweep, fake_trainer, tmp_path):
    assert run_sweep(*fake_trainer, "--grid=alpha=1", "--select_metric=val_auc") == 1
    with open(tmp_path / "sweep" / "results.csv") as f:
        assert "'val_auc' is not in the history" in next(csv.DictReader(f))["error"]


def test_tensorboard_hparams_for_the_sweep(run_sweep, fake_trainer, tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_sweep(*fake_trainer, "--random_search=2", "--space=alpha=choice:1|3", "--space=beta=uniform:0:1")
    run_sweep(*fake_trainer, "--random_search=2", "--space=alpha=choice:1|3", "--space=beta=uniform:0:1")

    root = event_accumulator.EventAccumulator(str(sweep_dir), size_guidance={"tensors": 0})
    root.Reload()
    assert len([n for n in os.listdir(sweep_dir) if n.endswith(sweep.EVENTS_SUFFIX)]) == 1  # Rewritten, not added.
    content = root.SummaryMetadata("_hparams_/experiment").plugin_data.content
    experiment = hparams_metadata.parse_experiment_plugin_data(content)
    hparams = {h.name: h for h in experiment.hparam_infos}
    assert [v.number_value for v in hparams["alpha"].domain_discrete.values] == [1.0, 3.0]
    assert (hparams["beta"].domain_interval.min_value, hparams["beta"].domain_interval.max_value) == (0.0, 1.0)
    assert [m.name.tag for m in experiment.metric_infos] == [
        "sweep/val_accuracy", "sweep/unbiased_test_accuracy", "sweep/biased_test_accuracy", "sweep/leakage_accuracy"
    ]

    board_dir = sweep_dir / "run_000" / sweep.TENSORBOARD_DIR
    assert len([n for n in os.listdir(board_dir) if n.endswith(sweep.EVENTS_SUFFIX)]) == 1
    board = event_accumulator.EventAccumulator(str(board_dir), size_guidance={"tensors": 0})
    board.Reload()
    session = hparams_metadata.parse_session_start_info_plugin_data(
        board.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    )
    plan = json.loads((sweep_dir / "sweep.json").read_text())["runs"][0]["params"]
    assert session.hparams["beta"].number_value == pytest.approx(plan["beta"])
    unbiased = board.Tensors("sweep/unbiased_test_accuracy")
    best = {"1": (2, 0.5110), "3": (1, 0.5563)}[str(plan["alpha"])]
    assert [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in unbiased] == [
        (best[0], pytest.approx(best[1]))
    ]


# ------------------------------------------------------ sweeping (real train)
@pytest.mark.timeout(150)
def test_real_sweep_end_to_end(tmp_path):
    """Two tiny real EnD trainings through `python -m invariant_reps.sweep` (35-55 s on 2 busy CPUs)."""
    sweep_dir = tmp_path / "sweep"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "invariant_reps.sweep", "--flagfile=flags/end_digits.cfg",
            f"--sweep_dir={sweep_dir}", "--grid=end_alpha=0.1,1", "--grid=end_beta=1",
            "--train_flags=--network=mlp --hidden_units=16 --max_train_examples=64 --max_test_examples=64 "
            "--epochs=1 --batch_size=32 --source=digits --verbose=0",
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=140)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # The sweep and the training it runs.
        raise
    assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert "[2/2] run_001 end_alpha=1 end_beta=1 ... done: best epoch 1" in stdout
    with open(sweep_dir / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["status"] for row in rows] == ["ok", "ok"]
    for row in rows:
        results = json.loads((sweep_dir / row["run"] / "results.json").read_text())
        assert (results["flags"]["end_alpha"], results["flags"]["end_beta"]) == (float(row["end_alpha"]), 1.0)
        assert results["method_params"]["alpha"] == float(row["end_alpha"])
        assert results["method"] == "end" and results["flags"]["epochs"] == 1 and results["source"] == "digits"
        assert float(row["unbiased_test_accuracy"]) == pytest.approx(results["history"]["unbiased_test_accuracy"][0])
        # One epoch of a small MLP keeps the colour in z: a probe reads it far above chance.
        assert float(row["leakage_accuracy"]) > results["final"]["leakage_chance"] + 0.2
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["num_runs"] == 2 and len(summary["top_runs"]) == 2
