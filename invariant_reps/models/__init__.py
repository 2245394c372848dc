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
from invariant_reps.models.disco import DisCo, disco_term  # noqa: E402,F401  (registers "disco")
