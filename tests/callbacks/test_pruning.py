"""ModelPruning prunes real weights with torch.nn.utils.prune: when, how much, where, and what it saves."""

import logging
from typing import Any

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

import shim
from shim.callbacks import ModelCheckpoint
from shim.callbacks.pruning import ModelPruning
from shim.demos.boring_classes import BoringModel
from shim.utilities.exceptions import MisconfigurationException


class ThreeLayers(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 8, bias=False), nn.Linear(8, 2))


def _fit(callbacks: list[Any], model: nn.Module | None = None, **kwargs: Any) -> tuple[Any, Any]:
    shim.seed_everything(3)
    model = model if model is not None else ThreeLayers()
    options: dict[str, Any] = {
        "max_epochs": 1,
        "limit_train_batches": 3,
        "limit_val_batches": 1,
        "num_sanity_val_steps": 0,
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "callbacks": callbacks,
    }
    options.update(kwargs)
    trainer = shim.Trainer(**options)
    trainer.fit(model)
    return trainer, model


def _zeros(tensor: torch.Tensor) -> int:
    return int((tensor == 0).sum())


def test_public_paths() -> None:
    assert shim.callbacks.ModelPruning is ModelPruning
    assert ModelPruning.PARAMETER_NAMES == ("weight", "bias")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pruning_fn": "l1_unstructured", "parameter_names": ["gamma"]},
        {"pruning_fn": "l3_unstructured"},
        {"pruning_fn": {}},
        {"pruning_fn": torch_prune.L1Unstructured(amount=0.2)},  # an instance, not the class
        {"pruning_fn": "random_structured"},  # no pruning_dim
        {"pruning_fn": "ln_structured", "pruning_dim": 0, "use_global_unstructured": False},  # no pruning_norm
        {"pruning_fn": "ln_structured", "pruning_dim": 0, "pruning_norm": 1},  # structured cannot be global
        {"pruning_fn": torch_prune.L1Unstructured, "use_global_unstructured": False},
        {"pruning_fn": "l1_unstructured", "amount": "half"},
        {"pruning_fn": "l1_unstructured", "verbose": 3},
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(MisconfigurationException):
        ModelPruning(**kwargs)


def test_names_are_case_insensitive_and_amount_may_be_an_int_or_a_function() -> None:
    ModelPruning("L1_Unstructured", amount=3)
    ModelPruning("random_unstructured", amount=lambda epoch: 0.1 * epoch)


def test_parameters_to_prune_not_in_the_model_or_malformed_raise() -> None:
    stranger = nn.Linear(2, 2)
    with pytest.raises(MisconfigurationException):
        _fit([ModelPruning("l1_unstructured", parameters_to_prune=[(stranger, "weight")])])
    with pytest.raises(MisconfigurationException):
        _fit([ModelPruning("l1_unstructured", parameters_to_prune=[("layer", "weight")])])  # type: ignore[list-item]
    model = ThreeLayers()
    with pytest.raises(MisconfigurationException):
        _fit([ModelPruning("l1_unstructured", parameters_to_prune=[(model.layer[0], "scale")])], model=model)


def test_default_targets_are_every_weight_and_bias_outside_containers() -> None:
    model = ThreeLayers()
    found = ModelPruning.sanitize_parameters_to_prune(model, ())
    lin1, lin2, lin3 = model.layer[0], model.layer[2], model.layer[3]
    assert [(id(m), n) for m, n in found] == [
        (id(lin1), "weight"),
        (id(lin2), "weight"),
        (id(lin3), "weight"),
        (id(lin1), "bias"),
        (id(lin3), "bias"),
    ]
    only_weights = ModelPruning.sanitize_parameters_to_prune(model, (), parameter_names=["weight", "training"])
    assert [n for _, n in only_weights] == ["weight"] * 3


def test_global_pruning_zeroes_the_fraction_over_all_targets_and_keeps_masks_when_asked() -> None:
    pruning = ModelPruning("l1_unstructured", amount=0.3, make_pruning_permanent=False)
    _, model = _fit([pruning])
    total = sum(p.numel() for n, p in model.named_buffers() if n.endswith("_mask"))
    masked = sum(_zeros(b) for n, b in model.named_buffers() if n.endswith("_mask"))
    assert total == 32 * 16 + 16 + 16 * 8 + 8 * 2 + 2
    assert masked == round(0.3 * total)
    assert hasattr(model.layer[0], "weight_orig")
    assert torch_prune.is_pruned(model)
    # global: the smallest magnitudes overall are gone, so per-layer fractions differ
    fractions = {_zeros(model.layer[i].weight_mask) / model.layer[i].weight.numel() for i in (0, 2, 3)}
    assert len(fractions) > 1


def test_local_pruning_zeroes_the_fraction_of_each_tensor_and_is_made_permanent_at_the_end() -> None:
    pruning = ModelPruning("l1_unstructured", amount=0.25, use_global_unstructured=False)
    _, model = _fit([pruning])
    assert not torch_prune.is_pruned(model)
    assert not any(n.endswith(("_orig", "_mask")) for n in model.state_dict())
    for layer in (model.layer[0], model.layer[2], model.layer[3]):
        assert isinstance(layer.weight, nn.Parameter)
        assert _zeros(layer.weight) == round(0.25 * layer.weight.numel())


def test_structured_pruning_removes_whole_rows() -> None:
    pruning = ModelPruning(
        "ln_structured",
        parameter_names=["weight"],  # a bias has no rows
        amount=0.5,
        use_global_unstructured=False,
        pruning_dim=0,
        pruning_norm=2,
    )
    _, model = _fit([pruning], model=ThreeLayers())
    weight = model.layer[0].weight
    dead_rows = int((weight == 0).all(dim=1).sum())
    assert dead_rows == 8
    assert _zeros(weight) == 8 * 32


def test_an_int_amount_prunes_that_many_entries_per_epoch_and_a_schedule_picks_the_epochs() -> None:
    seen: list[int] = []

    class Count(shim.Callback):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            seen.append(sum(_zeros(b) for n, b in pl_module.named_buffers() if n.endswith("_mask")))

    layer = "layer.0"
    model = ThreeLayers()
    pruning = ModelPruning(
        "l1_unstructured",
        parameters_to_prune=[(model.layer[0], "weight")],
        amount=lambda epoch: 10 * (epoch + 1),
        apply_pruning=lambda epoch: epoch != 1,
        make_pruning_permanent=False,
    )
    _fit([pruning, Count()], model=model, max_epochs=3)
    # epoch 0 prunes 10; epoch 1 is skipped; epoch 2 prunes 30 of the remaining entries
    assert seen == [10, 10, 40]
    assert f"{layer}.weight_mask" in model.state_dict()


def test_a_zero_amount_prunes_nothing() -> None:
    _, model = _fit([ModelPruning("l1_unstructured", amount=0, make_pruning_permanent=False)])
    assert not torch_prune.is_pruned(model)


@pytest.mark.parametrize("limit_val_batches", [0, 1])
def test_pruning_on_validation_epoch_end_needs_a_validation_run(limit_val_batches: int) -> None:
    pruning = ModelPruning("l1_unstructured", amount=0.5, prune_on_train_epoch_end=False, make_pruning_permanent=False)
    _, model = _fit([pruning], limit_val_batches=limit_val_batches, num_sanity_val_steps=2)
    assert torch_prune.is_pruned(model) is bool(limit_val_batches)


def test_sanity_check_does_not_prune() -> None:
    model = ThreeLayers()
    pruning = ModelPruning("l1_unstructured", amount=0.5, prune_on_train_epoch_end=False, make_pruning_permanent=False)
    _fit([pruning], model=model, limit_train_batches=0, num_sanity_val_steps=1, limit_val_batches=1)
    assert not torch_prune.is_pruned(model)


def test_lottery_ticket_rewinds_survivors_to_their_initial_values_every_time() -> None:
    shim.seed_everything(5)
    model = ThreeLayers()
    initial = model.layer[0].weight.detach().clone()
    pruning = ModelPruning(
        "l1_unstructured",
        parameters_to_prune=[(model.layer[0], "weight")],
        amount=0.2,
        make_pruning_permanent=False,
    )
    _fit([pruning], model=model, max_epochs=3)
    layer = model.layer[0]
    # the second and third rewinds restore the values before training too, not the ones trained after the first
    torch.testing.assert_close(layer.weight_orig.detach(), initial)
    model(torch.randn(1, 32))  # the pruning hook recomputes `weight` on the next forward
    torch.testing.assert_close(layer.weight.detach(), initial * layer.weight_mask)
    assert _zeros(layer.weight_mask) == 32 * 16 - round(0.8**3 * 32 * 16)


def test_without_lottery_ticket_the_trained_values_stay() -> None:
    shim.seed_everything(5)
    model = ThreeLayers()
    initial = model.layer[0].weight.detach().clone()
    pruning = ModelPruning("l1_unstructured", use_lottery_ticket_hypothesis=False, make_pruning_permanent=False)
    _fit([pruning], model=model)
    assert not torch.allclose(model.layer[0].weight_orig.detach(), initial)


def test_resampling_rewinds_to_a_fresh_initialisation() -> None:
    shim.seed_everything(5)
    model = ThreeLayers()
    initial = model.layer[0].weight.detach().clone()
    pruning = ModelPruning(
        "random_unstructured",
        parameters_to_prune=[(model.layer[0], "weight")],
        resample_parameters=True,
        make_pruning_permanent=False,
    )
    _fit([pruning], model=model)
    orig = model.layer[0].weight_orig.detach()
    assert not torch.allclose(orig, initial)
    assert orig.abs().max() <= 1 / 32**0.5  # Linear's own initialisation bound


def test_checkpoints_hold_permanent_weights_while_the_model_keeps_its_masks(tmp_path: Any) -> None:
    states: list[dict[str, Any]] = []

    class Keep(shim.Callback):
        def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
            states.append(dict(checkpoint["state_dict"]))
            assert torch_prune.is_pruned(pl_module)  # the running model is untouched

    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    pruning = ModelPruning("random_unstructured", amount=0.4)
    trainer, model = _fit([pruning, checkpoint, Keep()], max_epochs=2, enable_checkpointing=True)
    assert len(states) == 4  # the best and the last checkpoint of each epoch
    assert list(states[-1]) == list(model.state_dict())  # same keys, same order as a plain model
    assert all(t.device.type == "cpu" for t in states[-1].values())
    fresh = ThreeLayers.load_from_checkpoint(checkpoint.last_model_path)
    assert not torch_prune.is_pruned(fresh)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)
    assert _zeros(fresh.layer[0].weight) >= round(0.4 * 32 * 16)
    assert trainer.state.finished


def test_checkpoints_keep_the_reparametrization_when_not_permanent(tmp_path: Any) -> None:
    pruning = ModelPruning("l1_unstructured", amount=0.4, make_pruning_permanent=False)
    trainer, model = _fit([pruning])
    path = tmp_path / "pruned.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["state_dict"]
    assert {"layer.0.weight_orig", "layer.0.weight_mask"} <= set(state)
    assert "layer.0.weight" not in state


def test_verbose_logs_the_sparsity_overall_and_per_tensor(caplog: pytest.LogCaptureFixture) -> None:
    model = ThreeLayers()
    targets = [(model.layer[0], "weight"), (model.layer[3], "weight")]
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.callbacks.pruning"):
        pruning = ModelPruning(
            "l1_unstructured", parameters_to_prune=targets, amount=0.5, verbose=2, make_pruning_permanent=False
        )
        _fit([pruning], model=model)
    lines = [r.getMessage() for r in caplog.records if r.name == "lightning.pytorch.callbacks.pruning"]
    assert len(lines) == 3
    assert "0/528 entries zero (0.00%) before, 264/528 (50.00%) after" in lines[0]
    assert "L1Unstructured" in lines[0]
    assert "Linear(in_features=32, out_features=16, bias=True).weight" in lines[1]
    first = _zeros(model.layer[0].weight_mask)
    assert f"0 zero (0.00%) before, {first} ({first / 512:.2%}) after" in lines[1]
    assert "Linear(in_features=8, out_features=2, bias=True).weight" in lines[2]


def test_quiet_by_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.callbacks.pruning"):
        _fit([ModelPruning("l1_unstructured")])
    assert not [r for r in caplog.records if r.name == "lightning.pytorch.callbacks.pruning"]


class EveryOther(torch_prune.BasePruningMethod):
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask


def test_a_custom_method_class_prunes_globally() -> None:
    model = ThreeLayers()
    pruning = ModelPruning(EveryOther, parameters_to_prune=[(model.layer[3], "weight")], make_pruning_permanent=False)
    _fit([pruning], model=model)
    assert model.layer[3].weight_mask.view(-1).tolist() == [0.0, 1.0] * 8


def test_filter_parameters_to_prune_narrows_the_targets() -> None:
    class OnlyFirst(ModelPruning):
        def filter_parameters_to_prune(self, parameters_to_prune: Any = ()) -> Any:
            return [(m, n) for m, n in parameters_to_prune if m.out_features == 16 and n == "weight"]

    _, model = _fit([OnlyFirst("l1_unstructured", make_pruning_permanent=False)])
    pruned = [n for n, _ in model.named_buffers() if n.endswith("_mask")]
    assert pruned == ["layer.0.weight_mask"]


def test_make_pruning_permanent_folds_every_mask() -> None:
    model = ThreeLayers()
    torch_prune.l1_unstructured(model.layer[0], "weight", amount=0.5)
    torch_prune.l1_unstructured(model.layer[0], "weight", amount=0.5)  # a pruning container
    torch_prune.random_unstructured(model.layer[3], "bias", amount=1)
    ModelPruning("l1_unstructured").make_pruning_permanent(model)
    assert not torch_prune.is_pruned(model)
    assert _zeros(model.layer[0].weight) == 384
    assert _zeros(model.layer[3].bias) == 1
