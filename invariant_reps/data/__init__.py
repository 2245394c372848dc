"""Data: MNIST sources, Biased-MNIST (ReBias protocol) and tf.data pipelines.

Every pipeline yields batches packed as `({"inputs": x, "sensitive": s}, y)`
(see `packing`).
"""

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
