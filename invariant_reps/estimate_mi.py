"""`python -m invariant_reps.estimate_mi`: see `invariant_reps.cli.estimate_mi`."""

if __name__ == "__main__":
    from invariant_reps.cli.estimate_mi import run

    run()
