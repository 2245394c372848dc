"""The losses of the Disentangled Information Bottleneck (Pan et al., AAAI 2021).

Notation: X input, Y label, T = E_t(X) the class code (the bottleneck), S =
E_s(X) the style code. DisenIB asks T to keep exactly the label information
by splitting X into (T, S) with S independent of T:

    L_main = lambda_dec * CE(D(T + sigma_t eps), Y)                     (classification)
           + lambda_rec * || Rec(S + sigma_s eps, e_Y) - X ||^2           (reconstruction from S and Y)
           - lambda_est * E_joint[Est(S, T)]                             (independence, encoder side)
           + lambda_wall * mean relu(|[S; T]| - r)^2                     (embedding wall)

    L_est = E_prod[(1 - Est)^2] + E_joint[(1 + Est)^2] + lambda_zc * (E_all[Est])^2

`Est` is a least-squares density-ratio estimator (targets +1 for samples of
q(s) q(t), -1 for joint samples of q(s, t)); the encoders move joint samples
towards "independent". Formulas as in the seed code
(`shared_libs/utils/criterions.py` `RecLoss`, `EstLoss`;
`shared_libs/utils/operations.py` `resampling`, `repeat`, `clustering`).
"""

import keras
from keras import ops


def resample(mean, stddev, num_samples, seed):
    """`num_samples` Gaussian samples around each row: `[B, d] -> [B * n, d]`, example-major.

    Row `i * n + k` is `mean_i + stddev * eps_ik`, `eps ~ N(0, I)` (the seed's
    `resampling(mu, std, n_samples=n)`; `repeat_rows` lines the targets up).

    Args:
        mean: `[B, d]` codes.
        stddev: scalar noise standard deviation (>= 0).
        num_samples: samples per row (>= 1).
        seed: a `keras.random.SeedGenerator`.

    Returns:
        `[B * num_samples, d]`.
    """
    mean = ops.convert_to_tensor(mean)
    noise = keras.random.normal((ops.shape(mean)[0], num_samples, mean.shape[-1]), dtype=mean.dtype, seed=seed)
    samples = ops.expand_dims(mean, 1) + stddev * noise
    return ops.reshape(samples, (-1, mean.shape[-1]))


def repeat_rows(values, num_samples):
    """Each row repeated `num_samples` times in place (`[B, ...] -> [B * n, ...]`, the seed's `repeat`)."""
    return ops.repeat(values, num_samples, axis=0)


def cluster_codes(codes, radius):
    """Each code replaced by the mean of the batch codes within mean absolute distance `< radius`.

        d_ij = (1/d) sum_k |c_ik - c_jk|,   c'_i = sum_j [d_ij < r] c_j / sum_j [d_ij < r]

    The seed's `clustering` (style: r = 0.1, class: r = 1.0), applied to the
    detached codes before the product-of-marginals samples are drawn, so that
    codes of one cluster (e.g. one class) are not told apart by noise alone.
    A code is always in its own cluster (`d_ii = 0`).

    Args:
        codes: `[B, d]` (gradients are stopped).
        radius: positive float.

    Returns:
        `[B, d]`.

    Example:
        >>> cluster_codes([[0.0], [0.05], [1.0]], 0.1)  # [[0.025], [0.025], [1.0]]
    """
    codes = ops.stop_gradient(ops.convert_to_tensor(codes, "float32"))
    distance = ops.mean(ops.abs(codes[:, None, :] - codes[None, :, :]), axis=-1)
    mask = ops.cast(distance < radius, codes.dtype)
    return ops.matmul(mask, codes) / ops.sum(mask, axis=1, keepdims=True)


def reconstruction_loss(reconstruction, target):
    """Mean squared error over every element (the seed's `RecLoss`: sum of squares / number of elements)."""
    return ops.mean(ops.square(ops.cast(reconstruction, "float32") - ops.cast(target, "float32")))


def estimator_loss(product_outputs, joint_outputs, zero_center_weight=0.05):
    """The estimator's least-squares objective (the seed's `EstLoss`, mode "est").

        L_est = mean (1 - Est(prod))^2 + mean (1 + Est(joint))^2 + lambda_zc * (mean of all outputs)^2

    Args:
        product_outputs: `[N]` or `[N, 1]` outputs on product-of-marginals samples (target +1).
        joint_outputs: `[M]` or `[M, 1]` outputs on joint samples (target -1).
        zero_center_weight: `lambda_zc` (seed: 0.05), keeps the outputs centred on 0.

    Returns:
        `(loss, mean product output, mean joint output)`, float32 scalars.

    Example:
        >>> estimator_loss([1.0, 1.0], [-1.0, -1.0])[0]  # 0.0
    """
    product = ops.reshape(ops.cast(product_outputs, "float32"), (-1,))
    joint = ops.reshape(ops.cast(joint_outputs, "float32"), (-1,))
    zero_center = ops.square(ops.mean(ops.concatenate([product, joint], axis=0)))
    loss = ops.mean(ops.square(1.0 - product)) + ops.mean(ops.square(1.0 + joint)) + zero_center_weight * zero_center
    return loss, ops.mean(product), ops.mean(joint)


def independence_term(joint_outputs):
    """The encoders' term `-mean Est(joint)` (the seed's `EstLoss`, mode "main", before lambda_est)."""
    return -ops.mean(ops.cast(joint_outputs, "float32"))


def wall_loss(style, code, radius=3.0):
    """`mean relu(|e| - r)^2` over every coordinate of `S` and `T` (the seed's "embedding wall").

    Zero inside the box `[-r, r]^d`, quadratic outside: it keeps the codes
    bounded, so that the estimator's inputs stay in a fixed range. `S` and `T`
    are concatenated along the batch axis (same width in the seed) or, for
    different widths, their squared excesses are averaged together.

    Args:
        style: `[B, d_s]` style codes.
        code: `[B, d_t]` class codes.
        radius: `r` (seed: 3).

    Returns:
        float32 scalar.

    Example:
        >>> wall_loss([[4.0, 0.0]], [[-5.0, 1.0]], 3.0)  # (1 + 0 + 4 + 0) / 4 = 1.25
    """
    excess = [ops.reshape(ops.square(ops.relu(ops.abs(ops.cast(e, "float32")) - radius)), (-1,))
              for e in (style, code)]
    return ops.mean(ops.concatenate(excess, axis=0))
