"""Training-step models: the shared base and one subclass per method."""

from invariant_reps.models.base import Batch, InvariantModel
from invariant_reps.models.registry import (
    ExperimentContext,
    MethodSpec,
    available_methods,
    get_method,
    register_method,
)
from invariant_reps.models.ctc import CTC, CTCSchedule, memory_bank_nce, momentum_update
from invariant_reps.models.end import (
    ORTHOGONAL_VARIANTS,
    PARALLEL_PAIRS,
    EnD,
    gram_lower,
    orthogonal_pair_count,
    orthogonal_term,
    parallel_pair_count,
    parallel_term,
)
from invariant_reps.models.irene import IRENE, ROUTINGS, plugin_mutual_information
from invariant_reps.models.vanilla import Vanilla
from invariant_reps.models.disco import DisCo, disco_term
from invariant_reps.models.mi_penalty import KLUpdate, MIPenalty
from invariant_reps.models.adversarial import Adversarial
from invariant_reps.models.adversary_networks import AdversarialSchedule
from invariant_reps.models.critic_data import attach_held_out
from invariant_reps.models.vib import VIB
from invariant_reps.models.nib import NIB
from invariant_reps.models.disenib import DisenIB
from invariant_reps.models.disenib_conv import DisenIBConv
