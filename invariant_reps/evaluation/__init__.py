"""Evaluation of trained representations: leakage, transfer, information dynamics, sweeps."""

from invariant_reps.evaluation.information_dynamics import (
    InformationPoint,
    information_point,
    plot_information_plane,
    plot_over_epochs,
)
from invariant_reps.evaluation.leakage import LeakageResult, leakage_probe
from invariant_reps.evaluation.transfer import TransferPoint, linear_probe, transfer_curve, transfer_point
