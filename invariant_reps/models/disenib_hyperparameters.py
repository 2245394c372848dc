"""Declared hyperparameters and argument checks of DisenIB's two variants (see `disenib.py`)."""

from invariant_reps.hyperparameters import Hyperparameter

NONNEGATIVE = ("lambda_dec", "lambda_rec", "lambda_est", "lambda_wall", "lambda_zero_center",
               "class_noise", "style_noise", "estimator_noise")
POSITIVE_INT = ("num_samples", "main_iterations", "estimator_iterations", "estimator_units",
                "reconstructor_units")


def common_hyperparameters(num_samples, estimator_iterations, clustering, spectral_norm, lambda_rec=10.0,
                           lambda_est=0.5):
    """The declared hyperparameters shared by the fully connected and convolutional variants."""
    return (
        Hyperparameter("lambda_dec", float, 1.0, "lambda_dec: weight of the classification CE", lower=0.0),
        Hyperparameter("lambda_rec", float, lambda_rec, "lambda_rec: weight of the reconstruction MSE", lower=0.0),
        Hyperparameter("lambda_est", float, lambda_est, "lambda_est: weight of -mean Est(joint) (encoder side)",
                       lower=0.0),
        Hyperparameter("lambda_wall", float, 10.0, "lambda_wall: weight of mean relu(|e| - radius)^2", lower=0.0),
        Hyperparameter("lambda_zero_center", float, 0.05, "lambda_zc: estimator zero-centring weight", lower=0.0),
        Hyperparameter("radius", float, 3.0, "r: half-width of the embedding wall (seed emb_radius)", lower=0.0),
        Hyperparameter("class_noise", float, 1.0, "sigma_t: noise on T for the classifier (seed class_std)",
                       lower=0.0),
        Hyperparameter("style_noise", float, 0.1, "sigma_s: noise on S for the reconstructor (seed style_std)",
                       lower=0.0),
        Hyperparameter("estimator_noise", float, 0.1, "noise on S and T fed to Est (seed est_*_std)", lower=0.0),
        Hyperparameter("num_samples", int, num_samples, "noise samples per example (seed n_samples)", lower=1),
        Hyperparameter("clustering", bool, clustering, "cluster the codes before product sampling"),
        Hyperparameter("spectral_norm", bool, spectral_norm, "spectrally normalise every linear layer of Est"),
        Hyperparameter("estimator_units", int, 256, "width of Est's trunk (projections: half)", lower=2),
        Hyperparameter("reconstructor_units", int, 1024, "hidden width of an MLP reconstructor", lower=1),
        Hyperparameter("main_iterations", int, 10, "main iterations per seed step (seed n_times_main)", lower=1),
        Hyperparameter("estimator_iterations", int, estimator_iterations,
                       "estimator iterations per seed step (seed n_times_est)", lower=1),
        Hyperparameter("estimator_start_step", int, 3000, "seed step from which -lambda_est Est is on (est_thr)",
                       lower=0),
        Hyperparameter("style_updates", int, 4, "of every style_updates+1 iterations, Est's gradient goes to E_s "
                       "in the first style_updates, to E_t in the last (est_style_optimize)", lower=0),
        Hyperparameter("estimator_learning_rate", float, 1e-4, "Adam learning rate of Est", lower=0.0),
        Hyperparameter("estimator_beta_1", float, 0.5, "Adam beta_1 of Est (seed: 0.5)", lower=0.0, upper=1.0),
        Hyperparameter("picture_every_steps", int, 500, "seed steps between disentangling pictures (0: off)",
                       lower=0),
    )


def check_arguments(values):
    """Raises ValueError for a DisenIB constructor argument out of range.

    Args:
        values: the constructor's arguments by name (weights, noise scales,
            counts and the schedule).
    """
    for name in NONNEGATIVE + ("radius",):
        if not float(values[name]) >= 0:
            raise ValueError(f"`{name}` must be >= 0; received {values[name]!r}.")
    for name in POSITIVE_INT:
        value = values[name]
        if isinstance(value, bool) or int(value) != value or not value >= 1:
            raise ValueError(f"`{name}` must be an int >= 1; received {value!r}.")
    for name in ("estimator_start_step", "style_updates", "picture_every_steps"):
        value = values[name]
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"`{name}` must be an int >= 0; received {value!r}.")
    if values["estimator_iterations"] > values["main_iterations"]:
        raise ValueError(
            f"`estimator_iterations` ({values['estimator_iterations']}) must be <= `main_iterations` "
            f"({values['main_iterations']}): each train step (one main iteration) takes at most one estimator "
            "update."
        )
