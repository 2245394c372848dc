"""`python -m invariant_reps.train`: see `invariant_reps.cli.train`."""

from invariant_reps.cli.train import run

if __name__ == "__main__":
    run()
