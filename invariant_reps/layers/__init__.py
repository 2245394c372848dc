"""Bottleneck layers and initializers.

Importing this package registers every custom object for `.keras` saving.
"""

from invariant_reps.layers.l2_normalize import L2Normalize
from invariant_reps.layers.torch_initializers import FanInUniform
from invariant_reps.layers.torch_initializers import torch_default_kernel
from invariant_reps.layers.torch_initializers import (
    torch_kaiming_normal_fan_out,
)
from invariant_reps.layers.variational import VariationalBottleneck

__all__ = [
    "FanInUniform",
    "L2Normalize",
    "torch_default_kernel",
    "torch_kaiming_normal_fan_out",
    "VariationalBottleneck",
]
