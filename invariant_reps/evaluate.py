"""`python -m invariant_reps.evaluate --run_dir=RUN`: see `invariant_reps.cli.evaluate`.

`evaluate_run(run_dir, ...) -> dict` is the same evaluation from Python.
"""

if __name__ == "__main__":
    from invariant_reps.cli.evaluate_flags import run  # checks the flags before TensorFlow loads

    run()
else:
    from invariant_reps.cli.evaluate import evaluate_run, format_evaluation_table, run  # noqa: F401
