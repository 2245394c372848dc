"""EnD: Entangling and Disentangling deep representations (Tartaglione, Barbano and Grangetto, CVPR 2021).

`J = CE + alpha * R_perp + beta * R_par` on the L2-normalised bottleneck, one optimizer, one backward pass
(official `src/EnD.py`, `abs_regu`). The two terms, their pair sets and how they are computed without the
B x B cosine matrix are in `end_terms.py`; this module is the method: its hyperparameters, validation and step.
"""

import numbers

import keras

from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models.base import InvariantModel
from invariant_reps.models.end_terms import (  # noqa: F401  (public: the terms)
    ORTHOGONAL_VARIANTS,
    PARALLEL_PAIRS,
    gram_lower,
    orthogonal_pair_count,
    orthogonal_term,
    parallel_pair_count,
    _check_choice,
    parallel_term,
)
from invariant_reps.models.registry import register_method


@register_method(
    "end",
    hyperparameters=(
        Hyperparameter("alpha", float, 0.1, "alpha: weight of the disentangling term R_perp", lower=0.0),
        Hyperparameter("beta", float, 0.1, "beta: weight of the entangling term R_par", lower=0.0),
        Hyperparameter(
            "orthogonal_variant", str, "sum", "R_perp: abs of each bias class's sum (official) or elementwise",
            choices=ORTHOGONAL_VARIANTS,
        ),
        Hyperparameter(
            "parallel_pairs", str, "lower_triangle", "R_par pair set: official lower triangle or symmetric",
            choices=PARALLEL_PAIRS,
        ),
    ),
    sensitive=("discrete",),
    tasks=("multiclass",),
    summary="alpha * R_perp (same-bias pairs decorrelated) + beta * R_par (same-target pairs aligned), "
    "Tartaglione et al., CVPR 2021",
    network_defaults={"normalize_bottleneck": True},
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class EnD(InvariantModel):
    """EnD: `J = CE + alpha * R_perp + beta * R_par` (CVPR 2021, Sec. 3.5).

    The loss terms are reported as `"orthogonal"` (R_perp) and `"parallel"`
    (R_par), unweighted, in the training and evaluation logs. A term whose
    weight is 0 is still reported but leaves the objective.

    Normalisation: EnD L2-normalises the bottleneck in the forward path, so
    the task head also sees unit-norm features. Reproduce that with an encoder
    that ends in `L2Normalize` (`build_network(..., normalize_bottleneck=True)`).
    The terms themselves always work on cosines (`gram_lower` normalises `z`,
    a no-op on normalised `z`), so an unnormalised encoder is accepted, but
    then the head sees raw features unlike the paper's network.

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> task logits; task targets must be integer
            class ids (sparse labels), as R_par groups samples by target.
        num_sensitive_classes: int >= 2, number of bias classes; the
            sensitive variable must be class ids in `[0, num_sensitive_classes)`.
        alpha: weight of R_perp (>= 0).
        beta: weight of R_par (>= 0). Defaults 0.1 / 0.1 are the author's
            example in issue #1 of the official repository; the paper tunes
            both per bias level (larger beta than alpha works best).
        orthogonal_variant: `"sum"` (official) or `"elementwise"`.
        parallel_pairs: `"lower_triangle"` (official) or `"symmetric"`.
        weight_decay: coupled L2 weight decay (see `InvariantModel`); the
            paper's Biased-MNIST protocol uses 1e-4 with Adam.
        **kwargs: passed to `keras.Model`.

    Example:
        >>> net = build_network("simple_conv", (28, 28, 3), 10,
        ...                     normalize_bottleneck=True)
        >>> model = EnD(net.encoder, net.head, num_sensitive_classes=10,
        ...             alpha=1.0, beta=1.0, weight_decay=1e-4)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(pack_inputs(images, colours), digits, batch_size=256)
    """

    def __init__(
        self,
        encoder,
        head,
        num_sensitive_classes,
        alpha=0.1,
        beta=0.1,
        orthogonal_variant="sum",
        parallel_pairs="lower_triangle",
        weight_decay=0.0,
        **kwargs,
    ):
        kwargs.pop("task_weight", None)
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)
        if (
            isinstance(num_sensitive_classes, bool)
            or not isinstance(num_sensitive_classes, numbers.Integral)
            or num_sensitive_classes < 2
        ):
            raise ValueError(
                "`num_sensitive_classes` must be an int >= 2; received "
                f"{num_sensitive_classes!r}."
            )
        for arg_name, value in (("alpha", alpha), ("beta", beta)):
            if not float(value) >= 0:
                raise ValueError(f"`{arg_name}` must be >= 0; received {value!r}.")
        _check_choice(orthogonal_variant, ORTHOGONAL_VARIANTS, "orthogonal_variant")
        _check_choice(parallel_pairs, PARALLEL_PAIRS, "parallel_pairs")
        self.num_sensitive_classes = int(num_sensitive_classes)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.orthogonal_variant = orthogonal_variant
        self.parallel_pairs = parallel_pairs
        self.add_loss_term("orthogonal", self.alpha)
        self.add_loss_term("parallel", self.beta)

    def compute_loss_terms(self, batch, z, logits, training):
        num_target_classes = logits.shape[-1]
        return {
            "orthogonal": orthogonal_term(
                z, batch.s, self.num_sensitive_classes, self.orthogonal_variant
            ),
            "parallel": parallel_term(
                z,
                batch.y,
                batch.s,
                num_target_classes,
                self.num_sensitive_classes,
                self.parallel_pairs,
            ),
        }

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            {
                "num_sensitive_classes": self.num_sensitive_classes,
                "alpha": self.alpha,
                "beta": self.beta,
                "orthogonal_variant": self.orthogonal_variant,
                "parallel_pairs": self.parallel_pairs,
            }
        )
        return config
