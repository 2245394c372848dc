"""The method and dataset registries: declarations, lookups, applicability, building."""

import keras
import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.data import registry as data_registry
from invariant_reps.models import registry as method_registry
from tests.models.toy import tiny_networks


def test_built_in_methods_and_datasets_are_registered():
    assert {"vanilla", "end", "irene", "ctc"} <= set(ir.available_methods())
    assert {"biased_mnist", "digits_transfer", "cifar100"} <= set(ir.available_datasets())
    assert ir.get_method("end").model_class is ir.EnD
    assert [h.name for h in ir.get_method("end").hyperparameters] == [
        "alpha", "beta", "orthogonal_variant", "parallel_pairs"
    ]


def test_unknown_names_suggest_and_list():
    with pytest.raises(ValueError, match=r"Unknown method 'ened'\. Did you mean 'end'\? Registered methods: "):
        ir.get_method("ened")
    with pytest.raises(ValueError, match=r"Unknown dataset 'biased'\..*Registered datasets: "):
        ir.get_dataset("biased")


def test_method_applicability_is_checked_from_the_declaration():
    end = ir.get_method("end")
    end.check_applies("multiclass", "discrete")
    with pytest.raises(ValueError, match="needs a sensitive variable of kind discrete, but the data has a 'continuous'"):
        end.check_applies("multiclass", "continuous", "the data")
    with pytest.raises(ValueError, match="supports multiclass tasks; the data is binary"):
        end.check_applies("binary", "discrete", "the data")
    ir.get_method("vanilla").check_applies("binary", "none")


def test_build_passes_hyperparameters_and_the_context_arguments_the_constructor_names():
    encoder, head = tiny_networks(num_classes=3)
    context = ir.ExperimentContext(num_classes=3, num_sensitive_classes=4, weight_decay=1e-4)
    model = ir.get_method("end").build(encoder, head, {"alpha": "2", "beta": 0.5}, context)
    assert isinstance(model, ir.EnD)
    assert (model.alpha, model.beta, model.num_sensitive_classes, model.weight_decay) == (2.0, 0.5, 4, 1e-4)
    irene = ir.get_method("irene").build(*tiny_networks(num_classes=3), {"privacy_learning_rate": 0.05}, context)
    assert float(irene.privacy_optimizer.learning_rate) == pytest.approx(0.05)
    assert float(irene.privacy_optimizer.momentum) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="its hyperparameters are: alpha, beta, orthogonal_variant, parallel_pairs"):
        ir.get_method("end").build(encoder, head, {"gamma": 1.0}, context)


def test_registration_errors():
    with pytest.raises(ValueError, match="lower-case identifier"):
        ir.register_method("My Method", summary="x")
    with pytest.raises(ValueError, match="register an InvariantModel subclass"):
        ir.register_method("not_a_model", summary="x")(keras.Model)
    with pytest.raises(ValueError, match=r"`sensitive` must be a non-empty subset"):
        ir.register_method("bad_kinds", summary="x", sensitive=("colour",))
    with pytest.raises(ValueError, match="already registered"):
        ir.register_method("end", summary="x")(ir.Vanilla)
    with pytest.raises(ValueError, match="clash with the common options"):
        ir.register_dataset(
            "bad_data", task="binary", sensitive="none", summary="x", evaluation_sets={"t": "t"},
            hyperparameters=[ir.Hyperparameter("seed", int, 0, "seed")],
        )


def test_a_dataset_builder_must_return_what_it_declares():
    def build(seed=0):
        split = ir.ArraySplit(np.zeros((4, 2), "float32"), np.zeros(4, np.int64))
        return ir.ExperimentData(train=split, validation=None, tests={"other": split}, input_shape=(2,),
                                 num_classes=2, source="generated", sensitive_kind="none")

    spec = data_registry.DatasetSpec(
        name="mismatch", builder=build, task="multiclass", sensitive="none", summary="x", hyperparameters=(),
        evaluation_sets={"test": "t"}, metrics=("accuracy",),
    )
    with pytest.raises(ValueError, match=r"declares evaluation sets \['test'\] but its builder returned \['other'\]"):
        spec.build()
    assert spec.accepted_options() == ("seed",)
    with pytest.raises(ValueError, match="--source do\\(es\\) not apply to --dataset=mismatch; it takes --seed"):
        spec.check_options({"source": "digits"})


def test_flag_names_are_prefixed_by_their_owner():
    assert ir.get_method("irene").flag_name("gamma") == "irene_gamma"
    assert ir.get_dataset("biased_mnist").flag_name("rho") == "biased_mnist_rho"
    assert method_registry.SENSITIVE_KINDS == ("discrete", "continuous", "none")
