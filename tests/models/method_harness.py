"""One small, fast case per registered method, shared by the per-method tests (like Keras's `run_layer_test`).

`make_case(name)` builds the method from its registry declaration on tiny
networks and data of the kinds it declares (the first sensitive kind and task
it supports). A method whose defaults are slow (16 critic steps, a 16k-row
memory bank) lists cheaper hyperparameters in `FAST_PARAMS`; a new method
needs nothing else to be checked by `test_method_harness.py` and by the
mirrored-strategy check.
"""

import dataclasses

import keras
import numpy as np

import invariant_reps as ir

#: Hyperparameters that keep each method's harness run small.
FAST_PARAMS = {
    "ctc": {"projection_dim": 4, "num_negatives": 8, "stage_two_epoch": 1},
    "irene": {"privacy_steps": 2},
    "disco": {"background_only": True, "block_size": 8},
    # DisenIB: tiny Est/Rec, a seed step of 2 batches, the estimator term and the GAN term on from step 1.
    "disenib": {"num_samples": 2, "estimator_units": 8, "reconstructor_units": 8, "main_iterations": 2,
                "estimator_iterations": 1, "estimator_start_step": 1},
    "disenib_conv": {"num_samples": 2, "estimator_units": 8, "main_iterations": 2, "estimator_start_step": 1,
                     "gan_start_step": 1},
    # VIB/NIB sample the code at inference by default (the seed's), so two evaluations of the same data
    # differ; the harness compares evaluations, so it takes the mean at inference. Training still samples.
    "vib": {"sample_at_inference": False},
    "nib": {"sample_at_inference": False},
}

NUM_EXAMPLES = 48
BATCH_SIZE = 16
EPOCHS = 2
NUM_SENSITIVE_CLASSES = 3


@dataclasses.dataclass
class Case:
    """A method's model and data for the harness."""

    name: str
    model: object
    x: np.ndarray
    y: np.ndarray
    s: np.ndarray
    task: str
    sensitive_kind: str
    needs_index: bool

    def dataset(self, start_epoch=0, num_epochs=EPOCHS):
        return ir.data.make_array_dataset(
            self.x, self.y, self.s, BATCH_SIZE, shuffle_seed=1, start_epoch=start_epoch, num_epochs=num_epochs,
            include_index=self.needs_index,
        )

    def packed(self):
        inputs = ir.pack_inputs(self.x, self.s)
        if self.needs_index:
            inputs[ir.data.INDEX_KEY] = np.arange(len(self.y))
        return inputs


def networks(input_dim, num_outputs, seed):
    x = keras.Input((input_dim,))
    hidden = keras.layers.Dense(8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed))(x)
    z = keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed + 1), name="bottleneck")(hidden)
    encoder = keras.Model(x, z, name="encoder")
    z_in = keras.Input((4,))
    logits = keras.layers.Dense(num_outputs, kernel_initializer=keras.initializers.GlorotUniform(seed + 2))(z_in)
    return encoder, keras.Model(z_in, logits, name="head")


def make_data(task, sensitive_kind, seed=0, num_examples=NUM_EXAMPLES):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_examples, 6)).astype("float32")
    if task == "binary":
        y = (x[:, 0] + 0.5 * rng.normal(size=num_examples) > 0).astype("float32")
    else:
        y = rng.integers(0, 3, num_examples)
    if sensitive_kind == "discrete":
        s = rng.integers(0, NUM_SENSITIVE_CLASSES, num_examples)
    elif sensitive_kind == "continuous":
        s = (x[:, 1] + 0.3 * rng.normal(size=num_examples)).astype("float32")
    else:
        s = np.zeros(num_examples, np.int64)
    return x, y, s


def make_case(name, seed=0, **overrides):
    """Builds method `name` (compiled, Adam 1e-2) with tiny networks and matching data."""
    spec = ir.get_method(name)
    task = spec.tasks[0]
    kind = spec.sensitive[0]
    x, y, s = make_data(task, kind, seed)
    keras.utils.set_random_seed(seed)
    encoder, head = networks(x.shape[1], 1 if task == "binary" else 3, seed)
    context = ir.ExperimentContext(
        num_classes=1 if task == "binary" else 3, task=task, sensitive_kind=kind,
        num_sensitive_classes=NUM_SENSITIVE_CLASSES if kind == "discrete" else None,
        num_examples=len(y), epochs=EPOCHS, seed=seed,
    )
    model = spec.build(encoder, head, {**FAST_PARAMS.get(name, {}), **overrides}, context)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return Case(name, model, x, y, s, task, kind, spec.needs_index)


def fit(case, start_epoch=0, epochs=EPOCHS):
    batches = case.dataset(start_epoch, epochs - start_epoch)
    return case.model.fit(
        batches.dataset, epochs=epochs, initial_epoch=start_epoch, steps_per_epoch=batches.steps_per_epoch,
        verbose=0, callbacks=[keras.callbacks.History()],
    ).history


def auxiliary_state(model):
    """Every auxiliary network's weights and optimizer variables, in order, as `[(label, array)]`."""
    state = []
    for name in model.auxiliary_names:
        state += [(f"{name}/{v.name}", np.array(v.numpy())) for v in model.auxiliary_network(name).weights]
        state += [(f"{name}_optimizer/{v.name}", np.array(v.numpy())) for v in model.auxiliary_optimizer(name).variables]
    return state


def assert_same_state(actual, expected, atol=0.0):
    """Asserts two `auxiliary_state` lists hold the same variables and values."""
    # Labels may differ in the model-name prefix Keras gives optimizer slots; order and shapes may not.
    assert [np.shape(a) for _, a in actual] == [np.shape(b) for _, b in expected]
    for (label, a), (_, b) in zip(actual, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=label)

# MI critic / adversary methods: 2 auxiliary steps of a width-8 network; the adversary's classifier-only
# pretraining covers epoch 0, so both phases run. The critics use the JS bound here: the DV bound is blind to
# a constant shift of T, so Adam random-walks the critic's output offset on rounding noise, and one device and
# two replicas (whose gradients round differently) then differ in that offset by ~1e-4.
FAST_PARAMS.update({
    "mi_penalty": {"critic_steps": 2, "critic_width": 8, "bound": "jsd"},
    "kl_update": {"critic_steps": 2, "critic_width": 8, "bound": "jsd"},
    "adversarial": {"adversary_steps": 2, "adversary_width": 8, "pretrain_epochs": 1},
})
