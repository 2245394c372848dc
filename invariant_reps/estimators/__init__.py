"""Mutual-information estimators: critics, variational bounds, references.

- `estimate_mi` trains a critic on held-in data, reads the bound on held-out
  data, stops at a plateau and warns when the number should not be trusted.
- `bounds` (`dv_bound`, `nwj_bound`, `infonce_bound`, `smile_bound`,
  `js_bound`) and `MineObjective` are plain functions / a layer on critic
  scores, reusable as the critic objective of an MI penalty.
- `ksg_mi`, `binned_mi`, `gaussian_mi` need no training.
- `ground_truth` samples pairs with known MI.
"""

from invariant_reps.estimators import ground_truth
from invariant_reps.estimators.bounds import dv_bound
from invariant_reps.estimators.bounds import infonce_bound
from invariant_reps.estimators.bounds import js_bound
from invariant_reps.estimators.bounds import log_mean_exp
from invariant_reps.estimators.bounds import nwj_bound
from invariant_reps.estimators.bounds import smile_bound
from invariant_reps.estimators.bounds import split_pair_scores
from invariant_reps.estimators.critics import CRITICS
from invariant_reps.estimators.critics import ConcatCritic
from invariant_reps.estimators.critics import Critic
from invariant_reps.estimators.critics import SeparableCritic
from invariant_reps.estimators.critics import get_critic
from invariant_reps.estimators.diagnostics import InfoNCECeilingWarning
from invariant_reps.estimators.diagnostics import MIEstimationWarning
from invariant_reps.estimators.diagnostics import NotConvergedWarning
from invariant_reps.estimators.diagnostics import UnstableEstimateWarning
from invariant_reps.estimators.estimate import METHODS
from invariant_reps.estimators.estimate import MIEstimate
from invariant_reps.estimators.estimate import TrainingCurve
from invariant_reps.estimators.estimate import estimate_mi
from invariant_reps.estimators.mine import MineObjective
from invariant_reps.estimators.nonparametric import binned_mi
from invariant_reps.estimators.nonparametric import gaussian_mi
from invariant_reps.estimators.nonparametric import ksg_mi
from invariant_reps.estimators.plateau import PlateauDetector
from invariant_reps.estimators.plotting import plot_training_curve
from invariant_reps.estimators.trainer import NEURAL_METHODS
from invariant_reps.estimators.trainer import CriticTrainer
