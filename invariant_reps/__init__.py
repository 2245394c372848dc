"""invariant_reps: representations that keep what a task needs and drop what it must not use.

Keras 3 models whose `train_step` adds a method's regularizer (EnD, IRENE,
MI critic, KL update, adversary, DisCo, VIB, NIB, DisenIB, CTC) on top of any
encoder/head pair, mutual-information estimators, and the evaluation that tells
how much of a sensitive variable a representation still carries. Importing the package registers every custom Keras object, so
`keras.saving.load_model` restores saved models.
"""

from invariant_reps import layers  # noqa: F401  (registers serializable layers)
from invariant_reps.data.packing import pack, pack_inputs, unpack_inputs
from invariant_reps import estimators  # noqa: F401
from invariant_reps.estimators import MIEstimate, estimate_mi
from invariant_reps.evaluation.leakage import LeakageResult, leakage_probe
from invariant_reps.models import CTC, IRENE, EnD, InvariantModel, Vanilla
from invariant_reps.models import VIB, NIB, Adversarial, DisCo, DisenIB, DisenIBConv, KLUpdate, MIPenalty
from invariant_reps.models import ExperimentContext, available_methods, get_method, register_method
from invariant_reps.data import ArraySplit, ExperimentData, available_datasets, get_dataset, register_dataset
from invariant_reps.evaluation.metrics import Predictions, register_metric
from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.networks import (
    Network,
    available_networks,
    build_network,
    get_network,
    register_network,
    split_model,
)

__version__ = "0.1.0"
