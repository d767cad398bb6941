"""FitLoop: resuming from a checkpoint saved inside an epoch warns as Lightning does; ``done`` and the stop
conditions it reports."""

import contextlib
import importlib
import logging
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import shim
from shim.callbacks import EarlyStopping
from shim.demos.boring_classes import BoringModel
from shim.utilities.rank_zero import PossibleUserWarning


class _Stop(Exception):
    pass


def _resume_warnings(pkg: ModuleType, root: Path, save_at_step: int, how: str, max_steps: int) -> list[Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel

    class Model(boring):  # type: ignore[misc, valid-type]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.global_step == save_at_step and how == "exception":
                raise _Stop
            return super().training_step(batch, batch_idx)

    kwargs: dict[str, Any] = {
        "limit_train_batches": 4, "limit_val_batches": 0, "logger": False, "enable_progress_bar": False,
        "enable_model_summary": False, "enable_checkpointing": False, "default_root_dir": str(root),
    }  # fmt: skip
    first = pkg.Trainer(max_steps=save_at_step if how == "max_steps" else -1, max_epochs=3, **kwargs)
    with contextlib.suppress(_Stop):
        first.fit(Model())
    path = str(root / "saved.ckpt")
    first.save_checkpoint(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pkg.Trainer(max_epochs=3, max_steps=max_steps, **kwargs).fit(boring(), ckpt_path=path)
    return [w for w in caught if "resuming from a checkpoint that ended" in str(w.message).lower()]


@pytest.mark.parametrize(
    ("save_at_step", "how", "max_steps", "warns"),
    [
        (2, "exception", -1, True),
        (6, "exception", -1, True),
        (4, "exception", -1, False),  # the epoch's last step: the position is an epoch boundary
        (2, "max_steps", -1, False),  # a finished run: its epoch counts as done
        (2, "max_steps", 12, True),  # ... unless the new run counts steps
        (8, "max_steps", 12, False),
    ],
)
def test_resuming_inside_an_epoch_warns_as_lightning(
    lightning: ModuleType, save_at_step: int, how: str, max_steps: int, warns: bool, tmp_path: Path
) -> None:
    expected = _resume_warnings(lightning, tmp_path / "pl", save_at_step, how, max_steps)
    caught = _resume_warnings(shim, tmp_path / "shim", save_at_step, how, max_steps)
    assert len(expected) == len(caught) == int(warns)
    if warns:
        assert caught[0].category is PossibleUserWarning
        assert f"global step {save_at_step}, 4 steps per epoch" in str(caught[0].message)


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
    caplog.clear()  # the Trainer's own INFO lines (which devices the run uses) are not what this test reads
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
    notices = [r for r in caplog.records if "should_stop" in r.getMessage()]
    assert [r.getMessage() for r in notices] == [
        "Training goes on although `trainer.should_stop` is set: `min_epochs=4` and `min_steps=None` are not both"
        " reached yet."
    ]
    assert trainer.current_epoch == 4
    assert trainer.global_step == 8


def test_state_dict_is_the_checkpoints_loop_entry(tmp_path: Any) -> None:
    import torch

    trainer = shim.Trainer(
        default_root_dir=str(tmp_path), max_epochs=2, limit_train_batches=3, limit_val_batches=1, logger=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(BoringModel())
    state = trainer.fit_loop.state_dict()
    assert state["epoch_progress"]["total"]["completed"] == 2
    assert state["epoch_loop.batch_progress"]["total"]["completed"] == 6
    path = tmp_path / "x.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=False)["loops"]["fit_loop"]
    assert {k: v for k, v in saved.items() if k != "state_dict"} == {
        k: v for k, v in state.items() if k != "state_dict"
    }


def test_resuming_from_an_epoch_end_checkpoint_is_not_restarting(tmp_path: Any) -> None:
    seen: list[tuple[int, bool]] = []

    class Watch(shim.Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            seen.append((trainer.current_epoch, trainer.fit_loop.restarting))

    kwargs = {"default_root_dir": str(tmp_path), "limit_val_batches": 0, "logger": False, "limit_train_batches": 2,
              "enable_progress_bar": False, "enable_model_summary": False}  # fmt: skip
    shim.Trainer(max_epochs=1, **kwargs).fit(BoringModel())
    path = str(tmp_path / "checkpoints" / "epoch=0-step=2.ckpt")  # written in on_train_epoch_end
    shim.Trainer(max_epochs=2, callbacks=[Watch()], **kwargs).fit(BoringModel(), ckpt_path=path)
    assert seen == [(1, False)]
    seen.clear()
    shim.Trainer(max_steps=4, callbacks=[Watch()], **kwargs).fit(BoringModel(), ckpt_path=path)
    assert seen == [(1, False)]  # Lightning 2.6.6 says so too, though its loop counts steps here


def test_restarting_holds_for_the_resumed_epoch_only(tmp_path: Any) -> None:
    seen: list[tuple[int, bool, bool]] = []

    class Watch(shim.Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            loop = trainer.fit_loop
            seen.append((trainer.current_epoch, loop.restarting, loop.epoch_loop.restarting))

    kwargs = {"default_root_dir": str(tmp_path), "limit_val_batches": 0, "logger": False,
              "enable_progress_bar": False, "enable_model_summary": False}  # fmt: skip
    path = tmp_path / "mid.ckpt"

    class SaveInside(shim.Callback):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if batch_idx == 1:
                trainer.save_checkpoint(path)

    first = shim.Trainer(max_epochs=1, limit_train_batches=4, callbacks=[SaveInside()], **kwargs)
    first.fit(BoringModel())
    assert not first.fit_loop.restarting
    second = shim.Trainer(max_epochs=2, limit_train_batches=4, callbacks=[Watch()], **kwargs)
    second.fit(BoringModel(), ckpt_path=str(path))
    # the rest of epoch 0 (batches 2 and 3) resumes inside the epoch; epoch 1 runs as usual
    assert seen == [(0, True, True), (0, True, True), (1, False, False), (1, False, False), (1, False, False),
                    (1, False, False)]  # fmt: skip
    assert not second.fit_loop.restarting
