"""What every callback gets from the Trainer: ``self.log`` / ``self.log_dict`` that log through the module."""

from types import ModuleType
from typing import Any

import shim
from shim.demos.boring_classes import BoringModel


def _logging_callback(pkg: ModuleType) -> Any:
    class Logging(pkg.Callback):  # type: ignore[name-defined, misc]
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.log("from_epoch_start", 2.0)

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            self.log_dict({"a": 1.0, "b": float(trainer.global_step)})

    return Logging()


def _fit(pkg: ModuleType, model: Any, tmp_path: Any) -> Any:
    trainer = pkg.Trainer(
        default_root_dir=str(tmp_path), max_epochs=1, limit_train_batches=3, limit_val_batches=0,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[_logging_callback(pkg)],
    )  # fmt: skip
    trainer.fit(model)
    return trainer


def test_callbacks_log_like_the_module(lightning: ModuleType, tmp_path: Any) -> None:
    from pytorch_lightning.demos.boring_classes import BoringModel as LightningBoringModel

    expected = _fit(lightning, LightningBoringModel(), tmp_path / "pl")
    actual = _fit(shim, BoringModel(), tmp_path / "shim")
    assert actual.callback_metrics.keys() == expected.callback_metrics.keys() == {"from_epoch_start", "a", "b"}
    assert {k: float(v) for k, v in actual.callback_metrics.items()} == {
        k: float(v) for k, v in expected.callback_metrics.items()
    }
