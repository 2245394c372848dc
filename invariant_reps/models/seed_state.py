"""Saving and restoring the state of the model's random seed generators.

Keras saves no `keras.random.SeedGenerator` state: a model restored from a
`.keras` file or a checkpoint would redraw, from the generator's initial seed,
the noise (VIB's sampling, dropout) and the random draws of the epochs already
trained, so a resumed run would differ from an uninterrupted one.
`SeedStateMixin` stores the state of every generator of the model (its layers
included, each once) under `seed_generator_state_<i>` next to the model's own
variables, and assigns it back on load; stores written without it load as
before.
"""

SEED_KEY = "seed_generator_state_"


class SeedStateMixin:
    """Adds the seed generators' states to `save_own_variables` / `load_own_variables` (mixed into a Keras model).

    Example:
        >>> class Model(SeedStateMixin, keras.Model): ...
        >>> model.save("m.keras"); restored = keras.saving.load_model("m.keras")  # same generator states
    """

    _SEED_KEY = SEED_KEY

    def _seed_generator_states(self):
        """The state variables of every `keras.random.SeedGenerator` in the model, in a fixed order."""
        states, seen = [], set()
        for layer in self._flatten_layers(include_self=True, recursive=True):
            for generator in getattr(layer, "_seed_generators", ()):
                if id(generator.state) not in seen:
                    seen.add(id(generator.state))
                    states.append(generator.state)
        return states

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for i, state in enumerate(self._seed_generator_states()):
            store[f"{SEED_KEY}{i}"] = state.numpy()

    def load_own_variables(self, store):
        own = {key: store[key] for key in store.keys() if not key.startswith(SEED_KEY)}
        super().load_own_variables(own)
        for i, state in enumerate(self._seed_generator_states()):
            key = f"{SEED_KEY}{i}"
            if key in store.keys():
                state.assign(store[key])
