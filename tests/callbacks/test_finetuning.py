"""BaseFinetuning / BackboneFinetuning freeze, thaw and schedule as Lightning's do, and resume their groups."""

import importlib
import logging
from collections import OrderedDict
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import shim
from shim.callbacks.finetuning import BackboneFinetuning, BaseFinetuning
from shim.utilities.exceptions import MisconfigurationException


def _backbone_model(boring: ModuleType) -> Any:
    class BackboneModel(boring.BoringModel):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(32, 32, bias=False), nn.BatchNorm1d(32), nn.ReLU())
            self.layer = nn.Linear(32, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(self.backbone(x))

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.1)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)]

        def train_dataloader(self) -> DataLoader[Any]:
            return DataLoader(boring.RandomDataset(32, 64), batch_size=4)

    return BackboneModel()


def _fit_backbone(pkg: ModuleType, tmp_path: Any, **callback_kwargs: Any) -> dict[str, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    finetuning = importlib.import_module(f"{pkg.__name__}.callbacks.finetuning")
    seen: dict[str, Any] = {"lrs": [], "frozen": []}

    class Recorder(pkg.Callback):  # type: ignore[name-defined]
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            seen["lrs"].append([group["lr"] for group in trainer.optimizers[0].param_groups])
            seen["frozen"].append([p.requires_grad for p in pl_module.backbone.parameters()])

    torch.manual_seed(0)
    model = _backbone_model(boring)
    callback = finetuning.BackboneFinetuning(**callback_kwargs)
    trainer = pkg.Trainer(
        default_root_dir=tmp_path,
        max_epochs=6,
        limit_train_batches=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback, Recorder()],
    )
    trainer.fit(model)
    seen["state"] = callback.state_dict()
    seen["weights"] = {k: v.clone() for k, v in model.state_dict().items()}
    return seen


@pytest.mark.parametrize(
    "callback_kwargs",
    [
        {"unfreeze_backbone_at_epoch": 2},
        {"unfreeze_backbone_at_epoch": 1, "backbone_initial_lr": 0.02, "should_align": False},
        {"unfreeze_backbone_at_epoch": 0, "lambda_func": lambda epoch: 1.5, "train_bn": False},
    ],
    ids=["default", "initial-lr-unaligned", "at-start-no-bn"],
)
def test_backbone_finetuning_trains_as_lightning(lightning: ModuleType, tmp_path: Any, callback_kwargs: Any) -> None:
    expected = _fit_backbone(lightning, tmp_path / "pl", **callback_kwargs)
    actual = _fit_backbone(shim, tmp_path / "shim", **callback_kwargs)
    assert actual["lrs"] == expected["lrs"]
    assert actual["frozen"] == expected["frozen"]
    assert actual["state"] == expected["state"]
    assert actual["weights"].keys() == expected["weights"].keys()
    for name, value in expected["weights"].items():
        torch.testing.assert_close(actual["weights"][name], value, rtol=0, atol=0)


def test_backbone_learning_rate_schedule() -> None:
    backbone = nn.Linear(2, 2)
    head = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.1)
    callback = BackboneFinetuning(unfreeze_backbone_at_epoch=1, lambda_func=lambda epoch: 3.0)
    module = shim.LightningModule()
    module.backbone = backbone
    callback.freeze_before_training(module)
    assert [p.requires_grad for p in backbone.parameters()] == [False, False]
    callback.finetune_function(module, 0, optimizer)
    assert len(optimizer.param_groups) == 1
    callback.finetune_function(module, 1, optimizer)
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, pytest.approx(0.01)]
    assert [p.requires_grad for p in backbone.parameters()] == [True, True]
    callback.finetune_function(module, 2, optimizer)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.03)
    callback.finetune_function(module, 3, optimizer)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.09)
    callback.finetune_function(module, 4, optimizer)
    assert optimizer.param_groups[1]["lr"] == 0.1  # 0.09 * 3 exceeds the head's rate: aligned with it
    assert callback.previous_backbone_lr == 0.1


def test_backbone_finetuning_logs_both_rates_when_verbose(caplog: pytest.LogCaptureFixture) -> None:
    module = shim.LightningModule()
    module.backbone = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.5)
    callback = BackboneFinetuning(unfreeze_backbone_at_epoch=0, verbose=True, rounding=3)
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.callbacks.finetuning"):
        callback.finetune_function(module, 0, optimizer)
    assert caplog.messages == ["Epoch 0: learning rate 0.5, backbone learning rate 0.05"]


def test_backbone_finetuning_needs_a_backbone_module(tmp_path: Any) -> None:
    from shim.demos.boring_classes import BoringModel

    trainer = shim.Trainer(default_root_dir=tmp_path, fast_dev_run=True, logger=False)
    callback = BackboneFinetuning()
    with pytest.raises(MisconfigurationException, match=r"`backbone` attribute.*BoringModel.backbone is NoneType"):
        callback.on_fit_start(trainer, BoringModel())


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.ModuleDict({"conv": nn.Conv2d(3, 4, 3), "act": nn.ReLU()})
        self.own = nn.Parameter(torch.zeros(1))  # a parent module holding a parameter itself
        self.bn = nn.BatchNorm2d(4)


def test_flatten_modules_keeps_leaves_and_parents_with_own_parameters() -> None:
    block, linear, head = Block(), nn.Linear(2, 2), nn.ReLU()
    model = nn.Sequential(OrderedDict([("encoder", nn.Sequential(block, linear)), ("head", head)]))
    flat = BaseFinetuning.flatten_modules(model)
    conv, act = block.inner["conv"], block.inner["act"]
    assert flat == [block, conv, act, block.bn, linear, head]
    assert BaseFinetuning.flatten_modules([head, [linear]]) == [head, linear]
    assert BaseFinetuning.flatten_modules(block.inner) == [conv, act]


def test_freeze_keeps_batch_norm_trainable_unless_told() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    BaseFinetuning.freeze(model, train_bn=True)
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    assert model[1].track_running_stats
    BaseFinetuning.freeze(model, train_bn=False)
    assert [p.requires_grad for p in model.parameters()] == [False, False, False, False]
    assert not model[1].track_running_stats
    BaseFinetuning.make_trainable(model)
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, True]
    assert model[1].track_running_stats
    assert list(BaseFinetuning.filter_params(model, train_bn=False)) == [model[0].weight, model[0].bias]
    BaseFinetuning.freeze(model[0])
    assert list(BaseFinetuning.filter_params(model, requires_grad=False)) == [model[0].weight, model[0].bias]


def test_unfreeze_and_add_param_group_skips_held_parameters_with_a_warning() -> None:
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False), nn.Linear(3, 3, bias=False))
    optimizer = torch.optim.SGD(model[0].parameters(), lr=0.01)
    with pytest.warns(UserWarning, match=r"1 of the parameters to unfreeze are already in .* SGD optimizer"):
        BaseFinetuning.unfreeze_and_add_param_group(model[0], optimizer)
    assert len(optimizer.param_groups) == 1
    model[1].weight.requires_grad = False
    BaseFinetuning.unfreeze_and_add_param_group(model[1], optimizer)
    assert len(optimizer.param_groups) == 2
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.001)  # the first group's rate / initial_denom_lr
    assert optimizer.param_groups[1]["params"] == [model[1].weight]
    assert model[1].weight.requires_grad
    BaseFinetuning.unfreeze_and_add_param_group(model[2], optimizer, lr=5)
    assert optimizer.param_groups[2]["lr"] == 5.0


def _fit_layerwise(pkg: ModuleType, tmp_path: Any, max_epochs: int, ckpt_path: Any = None) -> tuple[Any, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    finetuning = importlib.import_module(f"{pkg.__name__}.callbacks.finetuning")

    class LayerwiseModel(boring.BoringModel):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Sequential(nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 2))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=0.1, momentum=0.9)

    class ThawOneLayerPerEpoch(finetuning.BaseFinetuning):  # type: ignore[name-defined]
        def freeze_before_training(self, pl_module: Any) -> None:
            self.freeze(pl_module.layer[:3])

        def finetune_function(self, pl_module: Any, epoch: int, optimizer: Any) -> None:
            if 1 <= epoch <= 3:
                self.unfreeze_and_add_param_group(pl_module.layer[epoch - 1], optimizer)

    torch.manual_seed(0)
    model = LayerwiseModel()
    callback = ThawOneLayerPerEpoch()
    trainer = pkg.Trainer(
        default_root_dir=tmp_path,
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback, pkg.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    trainer.fit(model, ckpt_path=ckpt_path)
    return callback, model


def test_param_groups_are_saved_by_name_and_rebuilt_on_resume(lightning: ModuleType, tmp_path: Any) -> None:
    for pkg, folder in ((lightning, tmp_path / "pl"), (shim, tmp_path / "shim")):
        callback, _ = _fit_layerwise(pkg, folder, max_epochs=2)
        groups = callback.state_dict()["internal_optimizer_metadata"][0]
        assert [group["params"] for group in groups] == [
            ["layer.3.weight", "layer.3.bias"],
            ["layer.0.weight", "layer.0.bias"],
        ]
        assert [group["lr"] for group in groups] == [0.1, pytest.approx(0.01)]
    expected_callback, expected_model = _fit_layerwise(lightning, tmp_path / "pl", 4, tmp_path / "pl" / "last.ckpt")
    actual_callback, actual_model = _fit_layerwise(shim, tmp_path / "shim", 4, tmp_path / "shim" / "last.ckpt")
    assert actual_callback.state_dict() == expected_callback.state_dict()
    assert len(actual_callback.state_dict()["internal_optimizer_metadata"][0]) == 4
    for name, value in expected_model.state_dict().items():
        torch.testing.assert_close(actual_model.state_dict()[name], value, rtol=0, atol=0)
