"""Evaluation of trained representations: leakage, transfer, information dynamics, sweeps."""

from invariant_reps.evaluation.information_dynamics import (
    InformationPoint,
    information_point,
    plot_information_plane,
    plot_over_epochs,
)
from invariant_reps.evaluation.dt_tradeoff_mine import DtTradeoffSettings, dt_tradeoff_mi
from invariant_reps.evaluation.leakage import LeakageResult, leakage_probe
from invariant_reps.evaluation.transfer import TransferPoint, linear_probe, transfer_curve, transfer_point
from invariant_reps.evaluation.adversarial import FGSMResult, fgsm_perturbation, fgsm_robustness
from invariant_reps.evaluation.ib_information import (
    label_entropy,
    mutual_information_xt,
    mutual_information_yt,
    posterior_entropies,
    predictive_entropies,
)
from invariant_reps.evaluation.ood import (
    OODMetrics,
    gaussian_noise_like,
    odin_detection,
    odin_perturb,
    odin_scores,
    ood_metrics,
)
from invariant_reps.evaluation.decorrelation import (
    DecorrelationReport,
    SculptingHistograms,
    background_rejection,
    cut_threshold,
    decorrelation_report,
    jensen_shannon_divergence,
    plot_sculpting,
    roc_auc,
    sculpting_histograms,
    sculpting_jsd,
)
from invariant_reps.evaluation import decorrelation_metrics  # noqa: E402,F401  (registers roc_auc, r50, jsd50, ...)
