"""The public API of `invariant_reps` (imported into the package by `invariant_reps/__init__.py`).

Importing this module registers every custom Keras object of the package.
"""

from invariant_reps import layers  # noqa: F401  (registers serializable layers)
from invariant_reps import estimators  # noqa: F401
from invariant_reps.data.packing import pack, pack_inputs, unpack_inputs
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

__all__ = [
    "layers", "estimators",
    "pack", "pack_inputs", "unpack_inputs",
    "MIEstimate", "estimate_mi", "LeakageResult", "leakage_probe",
    "CTC", "IRENE", "EnD", "InvariantModel", "Vanilla",
    "VIB", "NIB", "Adversarial", "DisCo", "DisenIB", "DisenIBConv", "KLUpdate", "MIPenalty",
    "ExperimentContext", "available_methods", "get_method", "register_method",
    "ArraySplit", "ExperimentData", "available_datasets", "get_dataset", "register_dataset",
    "Predictions", "register_metric", "Hyperparameter",
    "Network", "available_networks", "build_network", "get_network", "register_network", "split_model",
]
