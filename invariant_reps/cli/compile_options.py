"""The run flags that change how the training step executes: --jit_compile, --mixed_precision, --steps_per_execution.

They map onto Keras: `keras.Model.compile(jit_compile=..., steps_per_execution=...)`
and the global `keras.mixed_precision` policy under which the model's layers
are created. The Python equivalents are those Keras calls. Bad values raise
ValueError naming the flag (`run_experiment` reports them without a traceback).

Example:
    >>> compile_options({"jit_compile": "false", "steps_per_execution": 4})
    {'jit_compile': False, 'steps_per_execution': 4}
"""


def jit_compile_value(config):
    """The `jit_compile` argument of `compile` for `--jit_compile`.

    Args:
        config: the run's `{flag: value}`; `jit_compile` is auto, true or false (default auto).

    Returns:
        "auto", True or False.
    """
    value = config.get("jit_compile", "auto")
    choices = {"auto": "auto", "true": True, "false": False}
    if value not in choices:
        raise ValueError(f"--jit_compile must be one of auto, true, false; received {value!r}.")
    return choices[value]


def dtype_policy(config):
    """The Keras dtype policy name for `--mixed_precision`.

    Args:
        config: the run's `{flag: value}`; `mixed_precision` is none, mixed_float16 or mixed_bfloat16.

    Returns:
        "float32" for none, else the policy's name.
    """
    value = config.get("mixed_precision", "none")
    if value not in ("none", "mixed_float16", "mixed_bfloat16"):
        raise ValueError(
            f"--mixed_precision must be one of none, mixed_float16, mixed_bfloat16; received {value!r}."
        )
    return "float32" if value == "none" else value


def compile_options(config):
    """`compile` keyword arguments of the run flags --jit_compile and --steps_per_execution.

    Keras turns XLA off under TensorFlow op determinism (not every XLA kernel
    is deterministic), so `--jit_compile=true` with `--deterministic` is
    refused rather than silently ignored.

    Args:
        config: the run's `{flag: value}`.

    Returns:
        `{"jit_compile": ..., "steps_per_execution": ...}` for `compile`.
    """
    steps = config.get("steps_per_execution", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"--steps_per_execution must be an integer >= 1; received {steps!r}.")
    jit_compile = jit_compile_value(config)
    if jit_compile is True and config.get("deterministic"):
        raise ValueError(
            "--jit_compile=true needs --nodeterministic: Keras does not XLA-compile under TensorFlow op "
            "determinism (--deterministic, the default)."
        )
    return {"jit_compile": jit_compile, "steps_per_execution": steps}
