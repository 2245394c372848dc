"""`python -m invariant_reps.sweep`: see `invariant_reps.cli.sweep`."""

from invariant_reps.cli.sweep import run

if __name__ == "__main__":
    run()
