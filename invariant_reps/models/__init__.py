"""Training-step models: the shared base and one subclass per method."""

from invariant_reps.models.base import InvariantModel
from invariant_reps.models.vanilla import Vanilla
