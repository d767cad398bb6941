"""RichProgressBar on the real ``rich`` package: its rows, metrics text, stages, and the error without ``rich``."""

import io
import pickle
import subprocess
import sys
from typing import Any

import pytest
from torch.utils.data import DataLoader

import shim
from shim.callbacks import ModelSummary, RichModelSummary, RichProgressBar, TQDMProgressBar
from shim.callbacks.progress.rich_progress import RichProgressBarTheme
from shim.demos.boring_classes import BoringModel, RandomDataset, RandomIterableDataset
from shim.loggers import CSVLogger

pytest.importorskip("rich")


class LoggingModel(BoringModel):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        out = super().training_step(batch, batch_idx)
        self.log("train_loss", out["loss"], prog_bar=True)
        self.log("hidden", 3.0)
        return out


def _console(buffer: io.StringIO) -> dict[str, Any]:
    return {"file": buffer, "width": 200, "force_terminal": False}


def _trainer(tmp_path: Any, bar: RichProgressBar, **kwargs: Any) -> shim.Trainer:
    options: dict[str, Any] = {
        "default_root_dir": tmp_path,
        "max_epochs": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "callbacks": [bar],
    }
    options.update(kwargs)
    return shim.Trainer(**options)


def test_defaults_draw_with_rich_when_it_is_installed() -> None:
    trainer = shim.Trainer(logger=False, enable_checkpointing=False)
    kinds = [type(cb) for cb in trainer.callbacks]
    assert RichProgressBar in kinds
    assert RichModelSummary in kinds
    assert TQDMProgressBar not in kinds
    assert ModelSummary not in kinds
    assert isinstance(trainer.progress_bar_callback, RichProgressBar)


def test_rows_of_a_fit_with_sanity_check_and_validation_inside_the_epoch(tmp_path: Any) -> None:
    bar = RichProgressBar()
    trainer = _trainer(tmp_path, bar, limit_train_batches=7, limit_val_batches=3, val_check_interval=2)
    trainer.fit(BoringModel())
    assert bar.progress is not None
    sanity, train, val = bar.progress.tasks
    assert (sanity.description, sanity.completed, sanity.total, sanity.visible) == ("Sanity Checking", 2, 2, False)
    assert (train.description, train.completed, train.total, train.visible) == ("Epoch 0/0", 7, 7, True)
    # the three validations inside the epoch share one row, hidden between runs
    assert (val.description, val.completed, val.total, val.visible) == ("Validation", 3, 3, False)
    assert bar.train_progress_bar is train
    assert bar.val_progress_bar is val
    assert bar.val_sanity_check_bar is sanity


@pytest.mark.parametrize(("leave", "rows"), [(False, 1), (True, 3)])
def test_leave_keeps_a_row_per_finished_epoch(tmp_path: Any, leave: bool, rows: int) -> None:
    bar = RichProgressBar(leave=leave)
    trainer = _trainer(tmp_path, bar, max_epochs=3, limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0)
    trainer.fit(BoringModel())
    assert bar.progress is not None
    epochs = [task for task in bar.progress.tasks if task.description.startswith("Epoch")]
    assert [t.description for t in epochs] == (["Epoch 0/2", "Epoch 1/2", "Epoch 2/2"][-rows:])
    assert all(t.visible and t.completed == 2 for t in epochs)
    assert not any(t.visible for t in bar.progress.tasks if t.description == "Validation")


def test_metrics_text_shows_the_progress_bar_metrics_on_the_training_row(tmp_path: Any) -> None:
    buffer = io.StringIO()
    bar = RichProgressBar(theme=RichProgressBarTheme(metrics_format=".2e"), console_kwargs=_console(buffer))
    trainer = _trainer(tmp_path, bar, limit_train_batches=2, limit_val_batches=1, logger=CSVLogger(tmp_path))
    trainer.fit(LoggingModel())
    value = trainer.progress_bar_metrics["train_loss"]
    assert bar.get_metrics(trainer, trainer.lightning_module) == {"v_num": 0, "train_loss": value}
    lines = buffer.getvalue().splitlines()
    train_line = next(line for line in lines if line.startswith("Epoch 0/0"))
    assert train_line.endswith(f"v_num: 0 train_loss: {value:.2e}")
    assert "2/2" in train_line
    assert "hidden" not in buffer.getvalue()


def test_with_leave_each_epoch_row_keeps_the_metrics_it_ended_with(tmp_path: Any) -> None:
    buffer = io.StringIO()
    bar = RichProgressBar(leave=True, console_kwargs=_console(buffer))
    seen: list[float] = []

    class Recording(LoggingModel):
        def on_train_epoch_end(self) -> None:
            seen.append(float(self.trainer.progress_bar_metrics["train_loss"]))

    trainer = _trainer(tmp_path, bar, max_epochs=2, limit_train_batches=3, limit_val_batches=0)
    trainer.fit(Recording())
    lines = buffer.getvalue().splitlines()
    rows = [next(line for line in reversed(lines) if line.startswith(f"Epoch {epoch}/1")) for epoch in (0, 1)]
    assert seen[0] != seen[1]
    for row, value in zip(rows, seen, strict=True):
        assert row.rstrip().endswith(f"train_loss: {value:.3f}"), row


def test_iterable_loader_without_length_shows_an_open_total(tmp_path: Any) -> None:
    buffer = io.StringIO()
    bar = RichProgressBar(console_kwargs=_console(buffer))
    trainer = _trainer(tmp_path, bar, max_steps=3, limit_val_batches=0)
    model = BoringModel()
    model.train_dataloader = lambda: DataLoader(RandomIterableDataset(32, 3))  # type: ignore[method-assign]
    trainer.fit(model)
    assert bar.progress is not None
    assert bar.progress.tasks[0].total is None
    assert "3/--" in buffer.getvalue()


def test_validate_test_and_predict_each_draw_their_own_row(tmp_path: Any) -> None:
    bar = RichProgressBar()
    trainer = _trainer(tmp_path, bar, limit_val_batches=2, limit_test_batches=3, limit_predict_batches=4)
    model = BoringModel()
    for run, description, count in (
        (trainer.validate, "Validation", 2),
        (trainer.test, "Testing", 3),
        (trainer.predict, "Predicting", 4),
    ):
        run(model, verbose=False) if run != trainer.predict else run(model)
        assert bar.progress is not None
        [task] = bar.progress.tasks
        assert (task.description, task.completed, task.total) == (description, count, count)


def test_refresh_rate_zero_or_disable_draws_nothing(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="refresh_rate"):
        RichProgressBar(refresh_rate=-1)
    for bar in (RichProgressBar(refresh_rate=0), RichProgressBar()):
        if bar.refresh_rate:
            bar.disable()
        assert bar.is_disabled
        _trainer(tmp_path, bar, limit_train_batches=2, limit_val_batches=1).fit(BoringModel())
        assert bar.progress is None
        assert bar.train_progress_bar_id is None


def test_refresh_rate_moves_the_bar_every_n_batches_and_on_the_last(tmp_path: Any) -> None:
    seen: list[float] = []

    class Watch(shim.Callback):
        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            seen.append(bar.train_progress_bar.completed)

    bar = RichProgressBar(refresh_rate=3)
    trainer = _trainer(tmp_path, bar, limit_train_batches=7, limit_val_batches=0)
    trainer.callbacks.append(Watch())
    trainer.fit(BoringModel())
    assert seen == [0, 0, 3, 3, 3, 6, 7]


def test_the_bar_pickles_at_every_stage(tmp_path: Any) -> None:
    bar = RichProgressBar()
    trainer = _trainer(tmp_path, bar, limit_train_batches=1, limit_val_batches=1, limit_predict_batches=1)
    model = BoringModel()
    trainer.fit(model)
    copy = pickle.loads(pickle.dumps(bar))
    assert copy.progress is None
    assert copy.theme == bar.theme
    trainer.predict(model)
    pickle.dumps(bar)


def test_an_exception_stops_the_live_display(tmp_path: Any) -> None:
    class Failing(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise RuntimeError("boom")

    bar = RichProgressBar()
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(tmp_path, bar, limit_train_batches=2, num_sanity_val_steps=0).fit(Failing())
    assert bar.progress is not None
    assert not bar.progress.live.is_started


def test_dataset_of_the_right_size_fills_the_row(tmp_path: Any) -> None:
    bar = RichProgressBar()
    model = BoringModel()
    model.train_dataloader = lambda: DataLoader(RandomDataset(32, 5))  # type: ignore[method-assign]
    _trainer(tmp_path, bar, limit_val_batches=0).fit(model)
    assert bar.progress is not None
    assert (bar.train_progress_bar.completed, bar.train_progress_bar.total) == (5, 5)


_NO_RICH = "import sys; sys.modules['rich'] = None\n"  # makes `import rich` fail as if it were not installed


def test_without_rich_the_classes_name_the_extra_and_the_defaults_fall_back_to_tqdm() -> None:
    code = _NO_RICH + (
        "import shim\n"
        "from shim.callbacks import RichModelSummary, RichProgressBar\n"
        "for cls in (RichProgressBar, RichModelSummary):\n"
        "    try:\n"
        "        cls()\n"
        "    except ModuleNotFoundError as error:\n"
        "        print('raised:', error)\n"
        "t = shim.Trainer(logger=False, enable_checkpointing=False)\n"
        "print(sorted(type(cb).__name__ for cb in t.callbacks))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    raised = [line for line in result.stdout.splitlines() if line.startswith("raised:")]
    assert len(raised) == 2, result.stderr
    assert all("pip install lightning-shim[rich]" in line for line in raised)
    assert "`RichProgressBar`" in raised[0]
    assert "`RichModelSummary`" in raised[1]
    assert result.stdout.splitlines()[-1] == "['ModelSummary', 'TQDMProgressBar']"


def test_import_shim_and_its_callbacks_does_not_import_rich() -> None:
    code = "import sys, shim, shim.callbacks, shim.callbacks.progress; print('rich' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
