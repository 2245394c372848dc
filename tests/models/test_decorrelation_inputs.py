"""Bad nuisance input to every decorrelation method (DisCo, MIPenalty, KLUpdate, Adversarial): named errors/warnings.

Each case fails in `fit` before the first step (or warns), so nothing is trained; the CLI-level cases (negative
lambda, continuous s for a method on classes, a diverging critic) are in tests/cli/test_decorrelation_cli.py.
"""

import warnings

import keras
import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.models.adversarial import Adversarial
from invariant_reps.models.disco import DisCo
from invariant_reps.models.mi_penalty import KLUpdate, MIPenalty

FAST = {
    DisCo: {},
    MIPenalty: {"critic_steps": 1, "critic_width": 4},
    KLUpdate: {"critic_steps": 1, "critic_width": 4},
    Adversarial: {"adversary_steps": 1, "adversary_width": 4, "pretrain_epochs": 0},
}
METHODS = list(FAST)


def _model(cls, **kwargs):
    x = keras.Input((3,))
    z_in = keras.Input((4,))
    encoder = keras.Model(x, keras.layers.Dense(4, activation="tanh")(x))
    head = keras.Model(z_in, keras.layers.Dense(1)(z_in))
    model = cls(encoder, head, **FAST[cls], **kwargs)
    model.compile(optimizer="adam")
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32"), (x[:, 1] + 0.1 * rng.normal(size=n)).astype("float32")


@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.__name__)
def test_nan_in_s_is_refused_naming_its_position(cls):
    x, y, s = _data()
    s[7] = np.nan
    with pytest.raises(ValueError, match="sensitive values contain 1 NaN/inf value.*example 7"):
        _model(cls).fit(ir.pack_inputs(x, s), y, batch_size=32, verbose=0)


@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.__name__)
def test_continuous_s_given_as_classes_is_refused(cls):
    x, y, s = _data()
    with pytest.raises(ValueError, match="integer class ids in \\[0, 4\\); found the non-integral value"):
        _model(cls, num_sensitive_classes=4).fit(ir.pack_inputs(x, s), y, batch_size=32, verbose=0)


@pytest.mark.parametrize(
    "cls, kwargs",
    [(MIPenalty, {}), (KLUpdate, {}), (Adversarial, {}), (Adversarial, {"adversary": "mdn"})],
    ids=["MIPenalty", "KLUpdate", "Adversarial", "Adversarial-mdn"],
)
def test_constant_s_is_an_error_where_the_training_statistics_are_read(cls, kwargs):
    # Standardising s (critics, mdn) or cutting it into quantile bins needs a spread.
    x, y, _ = _data()
    with pytest.raises(ValueError, match=f"{cls.__name__}: the sensitive variable is constant over the training"):
        _model(cls, **kwargs).fit(ir.pack_inputs(x, np.full(64, 5.27, "float32")), y, batch_size=32, verbose=0)


@pytest.mark.parametrize(
    "cls, kwargs",
    [(DisCo, {}), (MIPenalty, {"standardize_sensitive": "none"}), (KLUpdate, {"standardize_sensitive": "batch"})],
    ids=["DisCo", "MIPenalty-raw", "KLUpdate-batch"],
)
def test_constant_s_warns_where_nothing_is_read_first(cls, kwargs):
    x, y, _ = _data()
    with pytest.warns(UserWarning, match=f"{cls.__name__}: the sensitive variable is constant in the first"):
        _model(cls, **kwargs).fit(ir.pack_inputs(x, np.full(64, 5.27, "float32")), y, batch_size=32, verbose=0)


@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.__name__)
def test_negative_lambda_is_refused_by_the_constructor(cls):
    with pytest.raises(ValueError, match="`lam` must be"):
        _model(cls, lam=-0.5)


def test_the_old_bkg_only_keyword_still_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="`bkg_only` is now `background_only`"):
        model = _model(MIPenalty, bkg_only=True)
    assert model.background_only
    config = model.get_config()
    assert "bkg_only" not in config and config["background_only"] is True
    config["bkg_only"] = config.pop("background_only")  # a model saved before the rename
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert MIPenalty.from_config(config).background_only
