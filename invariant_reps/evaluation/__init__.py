"""Evaluation of trained representations."""

from invariant_reps.evaluation.leakage import LeakageResult, leakage_probe
