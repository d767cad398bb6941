"""``FitLoop.done`` and the stop conditions it reports, as Lightning's fit loop gives them."""

import logging
from typing import Any

import pytest

import shim
from shim.callbacks import EarlyStopping
from shim.demos.boring_classes import BoringModel


@pytest.mark.parametrize(
    ("max_epochs", "max_steps", "done", "message"),
    [
        (-1, -1, False, None),
        (5, -1, False, None),
        (-1, 10, False, None),
        (0, -1, True, "`Trainer.fit` stopped: `max_epochs=0` reached."),
        (-1, 0, True, "`Trainer.fit` stopped: `max_steps=0` reached."),
    ],
)
def test_done_before_training(
    caplog: pytest.LogCaptureFixture, max_epochs: int, max_steps: int, done: bool, message: str | None
) -> None:
    trainer = shim.Trainer(max_epochs=max_epochs, max_steps=max_steps, logger=False)
    with caplog.at_level(logging.INFO):
        assert trainer.fit_loop.done is done  # a property, as in Lightning
    assert [r.getMessage() for r in caplog.records] == ([message] if message else [])


def test_the_min_epochs_notice_is_given_once(caplog: pytest.LogCaptureFixture, tmp_path: Any) -> None:
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            output = super().training_step(batch, batch_idx)
            output["loss"] = output["loss"] * 0.0
            self.log("loss", output["loss"])
            return output

    trainer = shim.Trainer(
        default_root_dir=str(tmp_path),
        min_epochs=4,
        limit_val_batches=0,
        limit_train_batches=2,
        enable_progress_bar=False,
        callbacks=[EarlyStopping(monitor="loss", patience=0, check_on_train_epoch_end=True)],
    )
    with caplog.at_level(logging.INFO):
        trainer.fit(Model())
    notices = [r for r in caplog.records if "has not been met" in r.getMessage()]
    assert [r.getMessage() for r in notices] == [
        "Trainer was signaled to stop but the required `min_epochs=4` or `min_steps=None` has not been met."
        " Training will continue..."
    ]
    assert trainer.current_epoch == 4
    assert trainer.global_step == 8
