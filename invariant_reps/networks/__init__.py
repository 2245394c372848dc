"""Encoder/head networks: a registry, built-in architectures, an adapter.

Importing this package registers the built-in networks `mlp`, `simple_conv`
and `cifar_resnet`.
"""

from invariant_reps.networks.adapter import split_model
from invariant_reps.networks.network import Network
from invariant_reps.networks.registry import available_networks
from invariant_reps.networks.registry import build_network
from invariant_reps.networks.registry import get_network
from invariant_reps.networks.registry import register_network

# Built-ins register themselves on import.
from invariant_reps.networks.cifar_resnet import cifar_resnet
from invariant_reps.networks.mlp import mlp
from invariant_reps.networks.simple_conv import simple_conv

__all__ = [
    "Network",
    "available_networks",
    "build_network",
    "cifar_resnet",
    "get_network",
    "mlp",
    "register_network",
    "simple_conv",
    "split_model",
]
from invariant_reps.networks.dense_bn import dense_bn  # noqa: E402,F401  (registers "dense_bn")
from invariant_reps.networks.ib_mlp import ib_mlp  # noqa: E402,F401  (registers "ib_mlp")
