"""Mutual-information estimators: critics, variational bounds, references.

- `estimate_mi` runs any estimator with a confidence interval, a
  permutation baseline, cross-checks and warnings; `method="auto"` picks
  the estimator from the data and says why. Neural estimators train a
  critic on held-in data and report the best smoothed held-out value, with
  the critic restored to it.
- `bounds` (`dv_bound`, `nwj_bound`, `infonce_bound`, `smile_bound`,
  `js_bound`) and `MineObjective` are lower bounds on critic scores;
  `club_bound`, `l1out_bound` and `GaussianConditional` are upper bounds for
  *minimising* MI inside a training step.
- `ksg_mi`, `lnc_mi`, `mixed_ksg_mi`, `binned_mi`, `gaussian_mi` and
  `gaussian_copula_mi` need no training and scale to 10^6 samples.
- `copula_transform` and `standardize` reshape marginals without changing MI.
- `ground_truth` samples pairs with known MI.
"""

from invariant_reps.estimators import ground_truth
from invariant_reps.estimators.auto import select_method
from invariant_reps.estimators.binned import binned_mi
from invariant_reps.estimators.binned import discrete_entropy
from invariant_reps.estimators.bounds import adaptive_clip
from invariant_reps.estimators.bounds import dv_bound
from invariant_reps.estimators.bounds import infonce_bound
from invariant_reps.estimators.bounds import js_bound
from invariant_reps.estimators.bounds import log_mean_exp
from invariant_reps.estimators.bounds import nwj_bound
from invariant_reps.estimators.bounds import smile_bound
from invariant_reps.estimators.classifier import classifier_lower_bound
from invariant_reps.estimators.bounds import split_pair_scores
from invariant_reps.estimators.critics import CRITICS
from invariant_reps.estimators.critics import ConcatCritic
from invariant_reps.estimators.critics import Critic
from invariant_reps.estimators.critics import SeparableCritic
from invariant_reps.estimators.critics import get_critic
from invariant_reps.estimators.diagnostics import EstimatorDisagreementWarning
from invariant_reps.estimators.diagnostics import InfoNCECeilingWarning
from invariant_reps.estimators.diagnostics import InvalidEstimateWarning
from invariant_reps.estimators.diagnostics import LooseBoundWarning
from invariant_reps.estimators.diagnostics import MIEstimationWarning
from invariant_reps.estimators.diagnostics import NotConvergedWarning
from invariant_reps.estimators.diagnostics import OverfittingWarning
from invariant_reps.estimators.diagnostics import UnstableEstimateWarning
from invariant_reps.estimators.diagnostics import UnsuitableDataWarning
from invariant_reps.estimators.early_stopping import HeldOutEarlyStopping
from invariant_reps.estimators.estimate import METHODS
from invariant_reps.estimators.gaussian_critic import GaussianResidualCritic
from invariant_reps.estimators.estimate import MIEstimate
from invariant_reps.estimators.estimate import TrainingCurve
from invariant_reps.estimators.estimate import estimate_mi
from invariant_reps.estimators.knn import ksg_mi
from invariant_reps.estimators.knn import mixed_ksg_mi
from invariant_reps.estimators.knn_selection import select_ksg_k
from invariant_reps.estimators.lnc import lnc_alpha
from invariant_reps.estimators.lnc import lnc_mi
from invariant_reps.estimators.methods import UPPER_BOUND_METHODS
from invariant_reps.estimators.mine import MineObjective
from invariant_reps.estimators.nonparametric import gaussian_copula_mi
from invariant_reps.estimators.nonparametric import gaussian_mi
from invariant_reps.estimators.plateau import PlateauDetector
from invariant_reps.estimators.plotting import plot_training_curve
from invariant_reps.estimators.preprocessing import copula_transform
from invariant_reps.estimators.preprocessing import standardize
from invariant_reps.estimators.trainer import NEURAL_METHODS
from invariant_reps.estimators.trainer import CriticTrainer
from invariant_reps.estimators.uncertainty import fold_interval
from invariant_reps.estimators.uncertainty import permutation_baseline
from invariant_reps.estimators.upper_bounds import GaussianConditional
from invariant_reps.estimators.upper_bounds import categorical_log_prob_matrix
from invariant_reps.estimators.upper_bounds import club_bound
from invariant_reps.estimators.upper_bounds import l1out_bound
from invariant_reps.estimators.upper_estimate import ConditionalTrainer
