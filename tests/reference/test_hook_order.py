"""The same scripts under shim and under real Lightning 2.6.6: same hooks in the same order, same numbers."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from tests.recording import recording_classes


def _base_module(pkg: ModuleType, variant: str) -> type:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel

    class Base(boring):  # type: ignore[misc, valid-type]
        def __init__(self, data: dict[str, torch.Tensor]) -> None:
            super().__init__()
            self.data = data
            if variant == "manual":
                self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if variant == "manual":
                opt = self.optimizers()
                loss = self.step(batch)
                self.manual_backward(loss)
                opt.step()
                opt.zero_grad()
                return loss
            if variant == "stop_at_1" and batch_idx == 1:
                self.trainer.should_stop = True
            if variant == "none_at_1" and batch_idx == 1:
                return None
            if variant == "raise_at_1" and batch_idx == 1:
                raise RuntimeError("boom at batch 1")
            loss = self.step(batch)
            self.log("train_loss", loss)
            self.log("train_both", loss, on_step=True, on_epoch=True, prog_bar=True)
            return {"loss": loss}

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            loss = self.step(batch)
            self.log("val_loss", loss)
            self.log("val_max", loss, reduce_fx="max")
            return {"x": loss}

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.step(batch)
            self.log("test_loss", loss)
            return {"y": loss}

        def on_train_epoch_end(self) -> None:
            self.log("epoch_end_metric", float(self.current_epoch))

        def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
            if variant == "skip_rest_at_1" and batch_idx == 1:
                return -1
            return None

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
            if variant == "plateau":
                scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
                return {"optimizer": optimizer, "lr_scheduler": scheduler, "monitor": "val_loss"}
            if variant == "step_scheduler":
                scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
                return [
                    {
                        "optimizer": optimizer,
                        "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 2},
                    }
                ]
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]

        def train_dataloader(self) -> DataLoader:
            batch_size = 5 if variant == "uneven_batches" else 2
            return DataLoader(self.data["train"], batch_size=batch_size, shuffle=variant == "shuffle_dropout")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.layer(x)
            if variant == "shuffle_dropout":
                out = torch.nn.functional.dropout(out, 0.3, training=self.training)
            return out

        def val_dataloader(self) -> Any:
            if variant == "two_val_loaders":
                return [DataLoader(self.data["val"], batch_size=3), DataLoader(self.data["val"][:4], batch_size=2)]
            return DataLoader(self.data["val"], batch_size=3)

        def test_dataloader(self) -> DataLoader:
            return DataLoader(self.data["val"], batch_size=3)

        def predict_dataloader(self) -> DataLoader:
            return DataLoader(self.data["val"], batch_size=3)

    return Base


CONFIGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (entry point, module variant, trainer kwargs)
    "fit": (
        "fit",
        "auto",
        {"max_epochs": 2, "limit_train_batches": 2, "limit_val_batches": 1, "num_sanity_val_steps": 1},
    ),
    "fit_accumulate_clip": (
        "fit",
        "auto",
        {
            "max_epochs": 2,
            "limit_train_batches": 3,
            "limit_val_batches": 1,
            "accumulate_grad_batches": 2,
            "gradient_clip_val": 1.0,
        },
    ),
    "fit_no_sanity": ("fit", "auto", {"max_epochs": 1, "limit_train_batches": 2, "num_sanity_val_steps": 0}),
    "fit_val_interval": (
        "fit",
        "auto",
        {"max_epochs": 1, "limit_train_batches": 4, "limit_val_batches": 1, "val_check_interval": 0.5},
    ),
    "fit_every_2_epochs": (
        "fit",
        "auto",
        {"max_epochs": 3, "limit_train_batches": 1, "limit_val_batches": 1, "check_val_every_n_epoch": 2},
    ),
    "fit_max_steps": (
        "fit",
        "auto",
        {"max_epochs": 5, "max_steps": 3, "limit_train_batches": 2, "limit_val_batches": 1},
    ),
    "fit_no_val": ("fit", "auto", {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 0}),
    "manual": ("fit", "manual", {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 0}),
    "none_at_1": ("fit", "none_at_1", {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 0}),
    "raise_at_1": ("fit", "raise_at_1", {"max_epochs": 1, "limit_train_batches": 3, "num_sanity_val_steps": 1}),
    "shuffle_dropout": ("fit", "shuffle_dropout", {"max_epochs": 3, "limit_val_batches": 2, "num_sanity_val_steps": 1}),
    "plateau": ("fit", "plateau", {"max_epochs": 3, "limit_train_batches": 2, "limit_val_batches": 2}),
    "step_scheduler": ("fit", "step_scheduler", {"max_epochs": 2, "limit_train_batches": 3, "limit_val_batches": 1}),
    "two_val_loaders": (
        "fit",
        "two_val_loaders",
        {"max_epochs": 1, "limit_train_batches": 2, "num_sanity_val_steps": 1},
    ),
    "skip_rest_at_1": ("fit", "skip_rest_at_1", {"max_epochs": 2, "limit_train_batches": 3, "limit_val_batches": 1}),
    "fast_dev_run": ("fit", "auto", {"fast_dev_run": 2, "max_epochs": 5}),
    "min_steps_and_stop": (
        "fit",
        "auto",
        {"max_epochs": 3, "limit_train_batches": 2, "limit_val_batches": 1, "max_steps": 5},
    ),
    "uneven_batches": ("fit", "uneven_batches", {"max_epochs": 2, "limit_val_batches": 2, "log_every_n_steps": 1}),
    "stop_with_min_epochs": (
        "fit",
        "stop_at_1",
        {"max_epochs": 4, "min_epochs": 2, "limit_train_batches": 2, "limit_val_batches": 1},
    ),
    "validate": ("validate", "auto", {"limit_val_batches": 2}),
    "validate_two_loaders": ("validate", "two_val_loaders", {"limit_val_batches": 2}),
    "test": ("test", "auto", {"limit_test_batches": 2}),
    "predict": ("predict", "auto", {"limit_predict_batches": 2}),
}


def _run(pkg: ModuleType, entry: str, variant: str, trainer_kwargs: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    torch.manual_seed(0)
    data = {"train": torch.randn(12, 32), "val": torch.randn(6, 32)}
    torch.manual_seed(1)
    Module, Callback, calls = recording_classes(pkg, _base_module(pkg, variant))
    model = Module(data)
    trainer = pkg.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[Callback()],
        **trainer_kwargs,
    )
    error = None
    output = None
    try:
        output = getattr(trainer, entry)(model)
    except RuntimeError as e:
        error = str(e)
    metrics = {
        "callback": {k: v.item() for k, v in trainer.callback_metrics.items()},
        "logged": {k: v.item() for k, v in trainer.logged_metrics.items()},
        "pbar": dict(trainer.progress_bar_metrics),
    }
    if entry == "predict":
        output = [o.tolist() for o in output]
    return {
        "calls": calls,
        "error": error,
        "global_step": trainer.global_step,
        "current_epoch": trainer.current_epoch,
        "metrics": metrics,
        "output": output,
        "weights": {k: v.clone() for k, v in model.state_dict().items()},
        "state": (str(trainer.state.fn.value), trainer.state.stage, trainer.state.status.value),
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_hooks_metrics_and_weights_as_lightning(lightning: ModuleType, name: str, tmp_path: Any) -> None:
    entry, variant, kwargs = CONFIGS[name]
    expected = _run(lightning, entry, variant, kwargs, tmp_path / "pl")
    actual = _run(shim, entry, variant, kwargs, tmp_path / "shim")
    assert actual["calls"] == expected["calls"]
    assert actual["error"] == expected["error"]
    assert actual["global_step"] == expected["global_step"]
    assert actual["current_epoch"] == expected["current_epoch"]
    assert actual["metrics"] == expected["metrics"]
    assert actual["output"] == expected["output"]
    assert actual["state"] == expected["state"]
    assert actual["weights"].keys() == expected["weights"].keys()
    for key, value in expected["weights"].items():
        torch.testing.assert_close(actual["weights"][key], value, rtol=0, atol=0)


def _resume_max_steps(pkg: ModuleType, tmp_path: Any) -> dict[str, Any]:
    """Train one step (max_steps cuts epoch 0 short; the epoch-end checkpoint is saved), then resume to 3 steps."""
    torch.manual_seed(0)
    data = {"train": torch.randn(12, 32), "val": torch.randn(6, 32)}
    Module, Callback, calls = recording_classes(pkg, _base_module(pkg, "auto"))
    kwargs = {"default_root_dir": str(tmp_path), "limit_val_batches": 0, "enable_progress_bar": False,
              "enable_model_summary": False, "logger": False}  # fmt: skip
    first = pkg.Trainer(max_steps=1, **kwargs)
    first.fit(Module(data))
    path = first.checkpoint_callback.best_model_path
    calls.clear()
    second = pkg.Trainer(max_steps=3, callbacks=[Callback()], **kwargs)
    second.fit(Module(data), ckpt_path=path)
    return {"calls": list(calls), "global_step": second.global_step, "current_epoch": second.current_epoch}


@pytest.mark.filterwarnings("ignore")
def test_resuming_an_epoch_cut_by_max_steps_continues_it(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _resume_max_steps(lightning, tmp_path / "pl")
    actual = _resume_max_steps(shim, tmp_path / "shim")
    assert actual == expected
    assert not any("on_train_epoch_start" in str(call) for call in expected["calls"])
