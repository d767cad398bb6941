"""Bad Trainer arguments raise the exception Lightning raises, with a message naming the argument and value."""

import logging
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.demos.boring_classes import BoringModel, RandomDataset
from shim.utilities.exceptions import MisconfigurationException

BAD_CONSTRUCTOR_ARGUMENTS = [
    ({"max_epochs": -2}, MisconfigurationException, "max_epochs=-2"),
    ({"max_steps": -2}, MisconfigurationException, "max_steps=-2"),
    ({"min_epochs": -1}, MisconfigurationException, "min_epochs=-1"),
    ({"limit_train_batches": 1.5}, MisconfigurationException, "limit_train_batches=1.5"),
    ({"limit_val_batches": -1}, MisconfigurationException, "limit_val_batches=-1"),
    ({"limit_test_batches": "a"}, MisconfigurationException, "limit_test_batches='a'"),
    ({"val_check_interval": 1.5}, MisconfigurationException, "val_check_interval=1.5"),
    ({"val_check_interval": 0}, MisconfigurationException, "val_check_interval=0"),
    ({"accumulate_grad_batches": 0}, MisconfigurationException, "accumulate_grad_batches=0"),
    ({"accumulate_grad_batches": 1.5}, MisconfigurationException, "accumulate_grad_batches=1.5"),
    ({"accumulate_grad_batches": {5: 0}}, MisconfigurationException, "factors must be ints >= 1"),
    ({"accumulate_grad_batches": {-1: 2}}, MisconfigurationException, "epoch keys must be ints >= 0"),
    ({"gradient_clip_algorithm": "foo"}, MisconfigurationException, "gradient_clip_algorithm='foo'"),
    ({"gradient_clip_val": "big"}, TypeError, "gradient_clip_val='big'"),
    ({"gradient_clip_val": -1.0}, MisconfigurationException, "gradient_clip_val=-1.0"),
    ({"check_val_every_n_epoch": 0}, MisconfigurationException, "check_val_every_n_epoch=0"),
    ({"log_every_n_steps": -1}, MisconfigurationException, "log_every_n_steps=-1"),
    ({"num_sanity_val_steps": -2}, MisconfigurationException, "num_sanity_val_steps=-2"),
    ({"fast_dev_run": -1}, MisconfigurationException, "fast_dev_run=-1"),
    ({"deterministic": "maybe"}, MisconfigurationException, "deterministic='maybe'"),
    ({"max_time": "5 minutes"}, MisconfigurationException, "max_time='5 minutes'"),
    ({"accelerator": "foo"}, MisconfigurationException, "accelerator='foo'"),
    ({"accelerator": "tpu"}, MisconfigurationException, "torch_xla"),
    ({"devices": 0}, MisconfigurationException, "devices=0"),
    ({"precision": "foo"}, ValueError, "precision='foo'"),  # Lightning raises ValueError here too
    ({"num_nodes": 0}, MisconfigurationException, "num_nodes=0"),
    ({"barebones": True, "enable_progress_bar": True}, ValueError, "enable_progress_bar=True"),
    ({"overfit_batches": 1.5}, MisconfigurationException, "overfit_batches=1.5"),
    ({"overfit_batches": -1}, MisconfigurationException, "overfit_batches=-1"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_CONSTRUCTOR_ARGUMENTS)
def test_bad_constructor_argument(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        shim.Trainer(**kwargs)
    assert message in str(info.value)


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        shim.Trainer(foo=1)  # type: ignore[call-arg]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_gpu_without_cuda_names_the_request() -> None:
    with pytest.raises(MisconfigurationException, match="accelerator='gpu'.*no CUDA GPU"):
        shim.Trainer(accelerator="gpu", devices=2)


def _quiet(**kwargs: Any) -> shim.Trainer:
    return shim.Trainer(
        logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False, **kwargs
    )


def test_val_check_interval_larger_than_epoch() -> None:
    trainer = _quiet(max_epochs=1, val_check_interval=100)
    loader = DataLoader(RandomDataset(32, 10))
    with pytest.raises(ValueError, match="val_check_interval=100 is larger than the 10 training batches"):
        trainer.fit(BoringModel(), loader, loader)


def test_val_check_interval_larger_than_epoch_allowed_across_epochs() -> None:
    trainer = _quiet(max_epochs=2, val_check_interval=15, check_val_every_n_epoch=None, num_sanity_val_steps=0)
    loader = DataLoader(RandomDataset(32, 10))
    trainer.fit(BoringModel(), loader, DataLoader(RandomDataset(32, 2)))
    assert trainer.global_step == 20


class _ReturnsFromConfigureOptimizers(BoringModel):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value

    def configure_optimizers(self) -> Any:
        return self.value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("foo", "unsupported value 'foo' of type str"),
        ({"lr_scheduler": None}, "without an 'optimizer' key"),
        (42, "unsupported value 42"),
    ],
)
def test_configure_optimizers_unsupported(value: Any, message: str) -> None:
    with pytest.raises(MisconfigurationException, match=message):
        _quiet(max_epochs=1, limit_train_batches=1).fit(_ReturnsFromConfigureOptimizers(value))


def test_reduce_on_plateau_needs_monitor() -> None:
    model = BoringModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    with pytest.raises(MisconfigurationException, match="ReduceLROnPlateau.*monitor"):
        _quiet(max_epochs=1, limit_train_batches=1).fit(
            _ReturnsFromConfigureOptimizers({"optimizer": optimizer, "lr_scheduler": scheduler})
        )


def test_bad_scheduler_interval() -> None:
    model = BoringModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)
    conf = {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "hour"}}
    with pytest.raises(MisconfigurationException, match="'interval': 'hour'"):
        _quiet(max_epochs=1, limit_train_batches=1).fit(_ReturnsFromConfigureOptimizers(conf))


def test_several_optimizers_need_manual_optimization() -> None:
    model = BoringModel()
    opts = [torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.Adam(model.parameters())]
    with pytest.raises(RuntimeError, match="2 optimizers.*manual optimization"):
        _quiet(max_epochs=1, limit_train_batches=1).fit(_ReturnsFromConfigureOptimizers(opts))


def test_optimizer_idx_in_training_step_needs_manual_optimization() -> None:
    # Lightning 2.x: the 1.x way of several optimizers (training_step takes optimizer_idx) is an error
    class OneXStyle(BoringModel):
        def training_step(self, batch: Any, batch_idx: int, optimizer_idx: int) -> Any:  # type: ignore[override]
            return super().training_step(batch, batch_idx)

    with pytest.raises(RuntimeError, match="`optimizer_idx`.*manual optimization"):
        _quiet(max_epochs=1, limit_train_batches=1).fit(OneXStyle())


class _NoTrainingStep(shim.LightningModule):
    def configure_optimizers(self) -> Any:
        return None


def test_missing_training_step() -> None:
    with pytest.raises(MisconfigurationException, match=r"no `training_step\(\)`"):
        _quiet(max_epochs=1).fit(_NoTrainingStep(), DataLoader(RandomDataset(32, 4)))


def test_missing_train_dataloader() -> None:
    class NoData(shim.LightningModule):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return None

        def configure_optimizers(self) -> Any:
            return None

    with pytest.raises(MisconfigurationException, match="No train dataloader"):
        _quiet(max_epochs=1).fit(NoData())


def test_missing_validation_step_for_validate() -> None:
    with pytest.raises(MisconfigurationException, match=r"no `validation_step\(\)`"):
        _quiet().validate(_NoTrainingStep(), DataLoader(RandomDataset(32, 4)))


def test_fit_needs_a_lightning_module() -> None:
    with pytest.raises(TypeError, match="`model` must be a `LightningModule`, got `Linear`"):
        _quiet().fit(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_loaders_and_datamodule_together() -> None:
    from shim.demos.boring_classes import BoringDataModule

    loader = DataLoader(RandomDataset(32, 4))
    with pytest.raises(MisconfigurationException, match="both dataloaders and a datamodule"):
        _quiet().fit(BoringModel(), loader, datamodule=BoringDataModule())


def test_training_step_returning_dict_without_loss() -> None:
    class NoLoss(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return {"x": self.step(batch)}

    with pytest.raises(MisconfigurationException, match="without a 'loss' key"):
        _quiet(max_epochs=1, limit_train_batches=1).fit(NoLoss())


def test_training_step_returning_wrong_type() -> None:
    class Wrong(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return "loss"

    with pytest.raises(MisconfigurationException, match="returned str"):
        _quiet(max_epochs=1, limit_train_batches=1).fit(Wrong())


def test_unsupported_trainer_arguments_say_so() -> None:
    with pytest.raises(MisconfigurationException, match="sync_batchnorm=True.*not implemented"):
        shim.Trainer(sync_batchnorm=True)


@pytest.mark.parametrize(
    ("kwargs", "limits"),
    [
        ({"overfit_batches": 3}, (3, 3, 1.0, 1.0)),
        ({"overfit_batches": 0.5, "limit_train_batches": 7, "limit_test_batches": 2}, (0.5, 0.5, 2, 1.0)),
        # the train and val limits are not even read when overfitting
        ({"overfit_batches": 2, "limit_val_batches": -5}, (2, 2, 1.0, 1.0)),
        ({"overfit_batches": 2, "fast_dev_run": 4}, (2, 2, 4, 4)),
        ({"fast_dev_run": True, "limit_val_batches": 0.5}, (1, 1, 1, 1)),
        ({"limit_train_batches": 0.5, "limit_predict_batches": 3}, (0.5, 1.0, 1.0, 3)),
    ],
)
def test_batch_limits(kwargs: dict[str, Any], limits: tuple[int | float, ...]) -> None:
    trainer = shim.Trainer(**kwargs)
    names = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches")
    assert tuple(getattr(trainer, name) for name in names) == limits
    assert trainer.overfit_batches == kwargs.get("overfit_batches", 0.0)


@pytest.mark.parametrize(("value", "reported"), [(True, True), (1, True), (3, 3), (False, False), (0, 0)])
def test_fast_dev_run_of_one_batch_reads_true(value: int | bool, reported: int | bool) -> None:
    trainer = shim.Trainer(fast_dev_run=value)
    assert trainer.fast_dev_run is reported if isinstance(reported, bool) else trainer.fast_dev_run == reported
    assert trainer.limit_val_batches == (1.0 if not value else int(value))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"limit_train_batches": 1},
            "`Trainer(limit_train_batches=1)` was configured so 1 batch per epoch will be used.",
        ),
        ({"limit_val_batches": 1}, "`Trainer(limit_val_batches=1)` was configured so 1 batch will be used."),
        (
            {"limit_train_batches": 1.0},
            "`Trainer(limit_train_batches=1.0)` was configured so 100% of the batches per epoch will be used.",
        ),
        (
            {"limit_test_batches": 1.0},
            "`Trainer(limit_test_batches=1.0)` was configured so 100% of the batches will be used.",
        ),
        ({"overfit_batches": 1}, "`Trainer(overfit_batches=1)` was configured so 1 batch will be used."),
        (
            {"overfit_batches": 1.0},
            "`Trainer(overfit_batches=1.0)` was configured so 100% of the batches will be used.",
        ),
        (
            {"val_check_interval": 1},
            "`Trainer(val_check_interval=1)` was configured so validation will run after every batch.",
        ),
        (
            {"val_check_interval": 1.0},
            "`Trainer(val_check_interval=1.0)` was configured so validation will run at the end of each training"
            " epoch.",
        ),
    ],
)
def test_one_batch_or_all_batches_is_explained(
    caplog: pytest.LogCaptureFixture, kwargs: dict[str, Any], message: str
) -> None:
    with caplog.at_level(logging.INFO):
        shim.Trainer(**kwargs)
    assert [r.getMessage() for r in caplog.records if "was configured" in r.getMessage()] == [message]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        shim.Trainer()  # the defaults are None, not 1.0: nothing to explain
    assert "was configured" not in caplog.text
