"""Data: MNIST sources, Biased-MNIST (ReBias protocol) and tf.data pipelines.

Every pipeline yields batches packed as `({"inputs": x, "sensitive": s}, y)`
(see `packing`).
"""

from invariant_reps.data import biased_mnist_experiment  # noqa: F401  (registers "biased_mnist")
from invariant_reps.data.biased_mnist import COLOUR_MAP
from invariant_reps.data.biased_mnist import BiasedMNIST
from invariant_reps.data.biased_mnist import assign_colours
from invariant_reps.data.biased_mnist import build_biased_mnist
from invariant_reps.data.biased_mnist import colourize
from invariant_reps.data.biased_mnist import colourize_tf
from invariant_reps.data.biased_mnist import load_biased_mnist
from invariant_reps.data.biased_mnist import normalize_images
from invariant_reps.data.biased_mnist import normalize_images_tf
from invariant_reps.data.packing import INDEX_KEY
from invariant_reps.data.packing import INPUTS_KEY
from invariant_reps.data.packing import SENSITIVE_KEY
from invariant_reps.data.packing import get_index
from invariant_reps.data.packing import pack
from invariant_reps.data.packing import pack_inputs
from invariant_reps.data.packing import unpack_inputs
from invariant_reps.data.pipeline import EpochBatches
from invariant_reps.data.pipeline import epoch_order
from invariant_reps.data.pipeline import make_array_dataset
from invariant_reps.data.pipeline import make_dataset
from invariant_reps.data.pipeline import steps_per_epoch
from invariant_reps.data.sources import MnistSplit
from invariant_reps.data.sources import load_idx_mnist
from invariant_reps.data.sources import load_mnist
from invariant_reps.data.sources import load_sklearn_digits
from invariant_reps.data.sources import load_tfds_mnist
from invariant_reps.data.sources import load_train_test
from invariant_reps.data.sources import split_arrays
from invariant_reps.data.transfer_tasks import TRANSFER_TASKS
from invariant_reps.data.transfer_tasks import TransferTask
from invariant_reps.data.transfer_tasks import load_transfer_task
from invariant_reps.data.transfer_tasks import split_by_digit
from invariant_reps.data.experiment_data import ArraySplit
from invariant_reps.data.experiment_data import ExperimentData
from invariant_reps.data.registry import COMMON_OPTIONS
from invariant_reps.data.registry import DatasetSpec
from invariant_reps.data.registry import available_datasets
from invariant_reps.data.registry import get_dataset
from invariant_reps.data.registry import register_dataset
from invariant_reps.data.hep import HEPConfig
from invariant_reps.data.hep import HEPSample
from invariant_reps.data.hep import argus_pdf
from invariant_reps.data.hep import crystal_ball_pdf
from invariant_reps.data.hep import feature_groups
from invariant_reps.data.hep import generate_chunk
from invariant_reps.data.hep import iterate_chunks
from invariant_reps.data.hep import make_arrays as make_hep_arrays
from invariant_reps.data.hep import make_hep_dataset
from invariant_reps.data.nuisance_toys import ToyData
from invariant_reps.data.nuisance_toys import make_pivot_toy
from invariant_reps.data.nuisance_toys import make_seed_toy
from invariant_reps.data.nuisance_toys import make_toy_dataset
from invariant_reps.data.nuisance_toys import toy_batch
from invariant_reps.data import decorrelation_datasets  # noqa: E402,F401  (registers "hep", "seed_toy", "pivot_toy")
from invariant_reps.data import mnist_classification  # noqa: E402,F401  (registers "mnist")
from invariant_reps.data import shapes  # noqa: E402,F401  (registers "shapes", the dSprites subset of DisenIB)
