"""`python -m invariant_reps.estimate_mi`: see `invariant_reps.cli.estimate_mi`."""

if __name__ == "__main__":
    from invariant_reps.cli.estimate_mi_flags import run  # checks the flags before TensorFlow loads

    run()
