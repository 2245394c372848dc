"""Every command-line flag of `invariant_reps.train` (and of the sweeps that call it).

Flags are defined here, once, at import. Experiments live in flagfiles:
`python -m invariant_reps.train --flagfile=flags/end_biased_mnist_rho0.997.cfg`.
Method hyperparameters keep the papers' names: `--alpha`, `--beta`, `--gamma`
(their meaning per method is in each method's docstring); left unset, each
method's published default applies.
"""

from absl import flags

METHODS = ("vanilla", "end", "irene", "ctc")
DATASETS = ("biased_mnist", "digits_transfer", "cifar100")
SOURCES = ("auto", "tfds", "idx", "digits")
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "step", "multistep", "cosine", "two_stage_cosine")
STRATEGIES = ("default", "mirrored", "multi_worker")
PROBES = ("linear", "mlp", "none")

FLAGS = flags.FLAGS

# What to train.
flags.DEFINE_enum("method", "vanilla", METHODS, "Training method.")
flags.DEFINE_string("network", "simple_conv", "Registered network name (see invariant_reps.networks).")
flags.DEFINE_float("network_width", 1.0, "Channel/width multiplier of the network (simple_conv, cifar_resnet).")
flags.DEFINE_multi_integer("hidden_units", [256, 128], "Hidden layer sizes of the `mlp` network.")
flags.DEFINE_bool(
    "normalize_bottleneck", None, "L2-normalize z in the forward path (default: on for EnD, off otherwise)."
)

# Data.
flags.DEFINE_enum(
    "dataset", "biased_mnist", DATASETS,
    "biased_mnist (task: digit, sensitive: colour), or a transfer task: digits_transfer (source digits 0-4, "
    "target 5-9) or cifar100 (source CIFAR-100, target CIFAR-10; tfds).",
)
flags.DEFINE_enum(
    "source", "auto", SOURCES,
    "Where MNIST comes from: tfds, an IDX directory (--data_dir), the embedded scikit-learn digits, or auto "
    "(tfds when available, else the embedded digits).",
)
flags.DEFINE_string("data_dir", None, "IDX directory (source=idx) or tfds data directory.")
flags.DEFINE_float("rho", 0.99, "Colour-digit correlation of the Biased-MNIST training set.")
flags.DEFINE_float("test_size", 0.2, "Fraction held out as the test split when the source has only one split.")
flags.DEFINE_float(
    "validation_fraction", 0.3,
    "Fraction of the training images recoloured at rho=0.1 as the validation set (EnD's protocol); 0 disables.",
)
flags.DEFINE_integer("max_train_examples", 0, "Use at most this many training examples (0: all).")
flags.DEFINE_integer("max_test_examples", 0, "Use at most this many test examples per test set (0: all).")

# Optimisation.
flags.DEFINE_integer("epochs", 10, "Number of epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 256, "Batch size.", lower_bound=1)
flags.DEFINE_enum("optimizer", "adam", OPTIMIZERS, "Optimizer of encoder + head.")
flags.DEFINE_float("learning_rate", 1e-3, "Initial learning rate.", lower_bound=0.0)
flags.DEFINE_float("momentum", 0.9, "SGD momentum.", lower_bound=0.0)
flags.DEFINE_float("adam_epsilon", 1e-8, "Adam epsilon (PyTorch's default 1e-8; Keras's is 1e-7).")
flags.DEFINE_float(
    "weight_decay", 0.0, "Coupled L2 weight decay, as PyTorch's optimizers apply it (grad += wd * w).",
    lower_bound=0.0,
)
flags.DEFINE_enum("lr_schedule", "constant", LR_SCHEDULES, "Per-epoch learning-rate schedule.")
flags.DEFINE_integer("lr_step_epochs", 20, "Step schedule: decay every this many epochs.", lower_bound=1)
flags.DEFINE_list("lr_milestones", ["40", "60"], "Multistep schedule: epochs (1-based) after which to decay.")
flags.DEFINE_float("lr_decay", 0.1, "Multiplicative decay of the step / multistep schedules.")

# Method hyperparameters (None: the method's default).
flags.DEFINE_float("alpha", None, "EnD: weight of R_orthogonal. IRENE: weight of the task loss. CTC: unused.")
flags.DEFINE_float("beta", None, "EnD: weight of R_parallel.")
flags.DEFINE_float("gamma", None, "IRENE: weight of the mutual-information term.")
flags.DEFINE_enum("end_orthogonal_variant", "sum", ("sum", "elementwise"), "EnD R_orthogonal: abs of sum (official) or elementwise.")
flags.DEFINE_enum("end_parallel_pairs", "lower_triangle", ("lower_triangle", "symmetric"), "EnD R_parallel pair set.")
flags.DEFINE_enum("irene_routing", "head", ("head", "paper"), "IRENE: MI updates the backbone only (head) or the privacy head too (paper).")
flags.DEFINE_float("privacy_learning_rate", 0.1, "IRENE privacy head: SGD learning rate.", lower_bound=0.0)
flags.DEFINE_float("privacy_weight_decay", 1e-4, "IRENE privacy head: coupled L2 weight decay.", lower_bound=0.0)
flags.DEFINE_integer("privacy_steps", 1, "IRENE privacy head: optimizer steps per batch.", lower_bound=1)

# CTC (contrastive temporal coding).
flags.DEFINE_float("ctc_a", 0.5, "CTC: weight a of the instance-discrimination term.", lower_bound=0.0)
flags.DEFINE_float("ctc_b", 1.0, "CTC: weight b of the temporal InfoNCE term.", lower_bound=0.0)
flags.DEFINE_float("instance_t", 0.1, "CTC: instance-discrimination temperature.", lower_bound=1e-6)
flags.DEFINE_float("instance_m", 0.9, "CTC: instance memory-bank momentum.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("nce_t", 0.1, "CTC: temporal InfoNCE temperature.", lower_bound=1e-6)
flags.DEFINE_float("nce_m", 0.9, "CTC: temporal memory-bank momentum.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_bool("update_memory_bank", True, "CTC: update the temporal memory bank during training.")
flags.DEFINE_integer(
    "stage_two_epoch", 0, "CTC and two_stage_cosine: first (0-based) epoch of stage two (0: no stage two).",
    lower_bound=0,
)
flags.DEFINE_float("weight_decay_coef", 1.0, "CTC: weight-decay multiplier in stage one (the seed's).", lower_bound=0.0)
flags.DEFINE_integer("num_negatives", 256, "CTC: negatives sampled from the memory bank.", lower_bound=1)
flags.DEFINE_integer("projection_dim", 64, "CTC: projection dimension of the memory bank.", lower_bound=1)

# Run.
flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and Biased-MNIST colouring.")
flags.DEFINE_bool("deterministic", True, "Enable TensorFlow op determinism (repeatable runs and resumes).")
flags.DEFINE_string("logdir", None, "Run directory: checkpoints, TensorBoard events, results.json, model.keras.")
flags.DEFINE_bool(
    "resume", True,
    "Resume from the newest checkpoint in --logdir. With --noresume a logdir that holds checkpoints is refused "
    "(no work is ever overwritten).",
)
flags.DEFINE_integer("keep_checkpoints", 0, "Keep only the newest N epoch checkpoints (0: keep all).", lower_bound=0)
flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_enum("leakage_probe", "linear", PROBES, "Probe fitted on frozen z to measure leakage of s.")
flags.DEFINE_bool("eval_every_epoch", True, "Evaluate the test sets after every epoch (for best-epoch selection).")
flags.DEFINE_string("tensorboard_layout", None, "Custom-scalar layout JSON (default: tensorboard_configs/).")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")


def _check_milestones(values):
    try:
        return all(int(v) > 0 for v in values)
    except ValueError:
        return False


flags.register_validator(
    "lr_milestones", _check_milestones, message="--lr_milestones must be positive integers, e.g. 40,60."
)
flags.register_validator(
    "rho", lambda rho: 0.0 <= rho <= 1.0, message="--rho must be in [0, 1]."
)
flags.register_validator(
    "validation_fraction", lambda f: 0.0 <= f < 1.0, message="--validation_fraction must be in [0, 1)."
)
flags.register_validator(
    "test_size", lambda f: 0.0 < f < 1.0, message="--test_size must be in (0, 1)."
)


def _check_network(name):
    from invariant_reps import networks

    if name not in networks.available_networks():
        raise flags.ValidationError(
            f"Unknown --network={name!r}; registered networks: {', '.join(networks.available_networks())}."
        )
    return True


flags.register_validator("network", _check_network)
