"""``RichProgressBar``: the progress of each stage as rows of one ``rich`` live display.

One ``rich.progress.Progress`` per stage holds a row (a task) per bar: sanity check, training, validation, test,
predict. Rich redraws the rows from its own thread a few times a second, so a batch only moves a counter; the shown
metrics are read from the device at most every ``min_redraw_interval`` seconds, as in the tqdm bar.
"""

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from shim.callbacks.callback import _ignores_outputs
from shim.callbacks.progress.progress_bar import RefreshingProgressBar, redirect_console_logs, restore_console_logs
from shim.callbacks.progress.rich_theme import RichProgressBarTheme, require_rich
from shim.utilities.imports import rich_usable

if TYPE_CHECKING or rich_usable():
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn

    from shim.callbacks.progress.rich_columns import BatchCountColumn, MetricsColumn, SpeedColumn, TimesColumn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["RichProgressBar", "RichProgressBarTheme"]

_BARS = ("train_progress_bar_id", "val_sanity_progress_bar_id", "val_progress_bar_id")
_EVAL_BARS = ("test_progress_bar_id", "predict_progress_bar_id")


class RichProgressBar(RefreshingProgressBar):
    """Progress bars drawn with ``rich``, showing ``v_num`` and the ``prog_bar=True`` metrics on the training row.

    Args:
        refresh_rate: Move the bars every this many batches; 0 disables the display.
        leave: Keep a row per finished epoch (``False`` reuses one training row).
        theme: The styles of the parts of the bar.
        console_kwargs: Arguments of the ``rich.console.Console`` to draw on (default: rich's global console).

    Raises:
        ModuleNotFoundError: If ``rich`` is not installed.
    """

    min_redraw_interval = 0.1
    redraws_per_second = 10

    def __init__(
        self,
        refresh_rate: int = 1,
        leave: bool = False,
        theme: RichProgressBarTheme = RichProgressBarTheme(),  # noqa: B008 (a frozen-in default, as in Lightning)
        console_kwargs: dict[str, Any] | None = None,
    ) -> None:
        require_rich(type(self).__name__)
        super().__init__(refresh_rate)
        self._leave = leave
        self.theme = theme
        self._console_kwargs = dict(console_kwargs or {})
        self.progress: Progress | None = None
        self._stopped = False
        self.train_progress_bar_id: TaskID | None = None
        self.val_sanity_progress_bar_id: TaskID | None = None
        self.val_progress_bar_id: TaskID | None = None
        self.test_progress_bar_id: TaskID | None = None
        self.predict_progress_bar_id: TaskID | None = None
        # the training rows: None for the running one, which shows the live metrics; a finished row keeps its own
        self._train_rows: dict[int, str | None] = {}
        self._metrics_text = ""
        self._last_metrics = 0.0
        self._swapped_streams: list[tuple[logging.StreamHandler, Any]] = []

    # -- state ---------------------------------------------------------------------------------------------

    def _task(self, task_id: "TaskID | None") -> "Task":
        if self.progress is None or task_id is None:
            raise RuntimeError("this bar is not drawn yet: it exists while its stage runs")
        return self.progress.tasks[task_id]

    @property
    def train_progress_bar(self) -> "Task":
        return self._task(self.train_progress_bar_id)

    @property
    def val_sanity_check_bar(self) -> "Task":
        return self._task(self.val_sanity_progress_bar_id)

    @property
    def val_progress_bar(self) -> "Task":
        return self._task(self.val_progress_bar_id)

    @property
    def test_progress_bar(self) -> "Task":
        return self._task(self.test_progress_bar_id)

    def _epoch_description(self, current_epoch: int) -> str:
        """``Epoch 3/9`` (``Epoch 3`` when the number of epochs is open)."""
        max_epochs = self.trainer.max_epochs
        if isinstance(max_epochs, int) and max_epochs > 0:
            return f"Epoch {current_epoch}/{max_epochs - 1}"
        return f"Epoch {current_epoch}"

    def configure_columns(self, trainer: "Trainer") -> list["ProgressColumn"]:
        """The columns of every row, left to right; the metrics text always follows them. Override to change."""
        theme = self.theme
        return [
            TextColumn("[progress.description]{task.description}", style=theme.description),
            BarColumn(
                complete_style=theme.progress_bar,
                finished_style=theme.progress_bar_finished,
                pulse_style=theme.progress_bar_pulse,
            ),
            BatchCountColumn(style=theme.batch_progress),
            TimesColumn(style=theme.time),
            SpeedColumn(style=theme.processing_speed),
        ]

    # -- the live display ------------------------------------------------------------------------------------
    def _start(self, trainer: "Trainer") -> None:
        """A new live display for a stage (the previous stage's display was stopped and stays on screen)."""
        if self.is_disabled or (self.progress is not None and not self._stopped):
            return
        self._forget_bars()
        console = Console(**self._console_kwargs) if self._console_kwargs else _global_console()
        metrics = MetricsColumn(self._row_metrics, style=self.theme.metrics)
        self.progress = Progress(
            *self.configure_columns(trainer),
            metrics,
            console=console,
            auto_refresh=True,
            refresh_per_second=self.redraws_per_second,
        )
        streams = (sys.stdout, sys.stderr)
        self.progress.start()
        self._stopped = False
        # log lines go through rich's stand-ins for stdout/stderr, which print them above the rows
        self._swapped_streams = redirect_console_logs(dict(zip(streams, (sys.stdout, sys.stderr), strict=True)))

    def _stop(self) -> None:
        restore_console_logs(self._swapped_streams)
        self._swapped_streams = []
        if self.progress is not None and not self._stopped:
            self.progress.stop()
        self._stopped = True

    def refresh(self, hard: bool = False) -> None:
        """Redraw now (rich's thread redraws a few times a second anyway)."""
        if self.progress is not None and not self._stopped:
            self.progress.refresh()

    def _row_metrics(self, task: "Task") -> str:
        if task.id not in self._train_rows:
            return ""  # validation rows show no metrics
        kept = self._train_rows[task.id]
        return self._metrics_text if kept is None else kept

    def _forget_bars(self) -> None:
        for name in _BARS + _EVAL_BARS:
            setattr(self, name, None)
        self._train_rows = {}

    def _add_or_reset(self, name: str, total: int | float, description: str, new: bool = False) -> "TaskID":
        assert self.progress is not None
        total_arg = None if total == float("inf") else int(total)
        task_id: TaskID | None = getattr(self, name)
        if task_id is None or new:
            task_id = self.progress.add_task(description, total=total_arg)
            setattr(self, name, task_id)
        else:
            self.progress.reset(task_id, total=total_arg, description=description, visible=True)
        return task_id

    def _advance(self, task_id: "TaskID | None", current: int) -> None:
        if self.progress is None or task_id is None or self._stopped:
            return
        total = self.progress.tasks[task_id].total
        if current % self.refresh_rate == 0 or current == total:
            self.progress.update(task_id, completed=current)

    def _hide(self, task_id: "TaskID | None") -> None:
        if self.progress is not None and task_id is not None and not self._stopped:
            self.progress.update(task_id, visible=False)

    def _read_metrics(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        theme = self.theme
        parts = []
        for key, value in self.get_metrics(trainer, pl_module).items():
            shown = format(value, theme.metrics_format) if isinstance(value, float) else value
            parts.append(f"{key}: {shown}")
        self._metrics_text = theme.metrics_text_delimiter.join(parts)
        self._last_metrics = time.perf_counter()

    # -- sanity check and training ---------------------------------------------------------------------------
    @override
    def on_sanity_check_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._start(trainer)

    @override
    def on_sanity_check_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._hide(self.val_sanity_progress_bar_id)
        self.refresh()

    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._start(trainer)

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule", *args: Any) -> None:
        if self.progress is None or self._stopped:
            return
        new_row = self._leave and self.train_progress_bar_id is not None
        if new_row:
            assert self.train_progress_bar_id is not None
            self._train_rows[self.train_progress_bar_id] = (
                self._metrics_text
            )  # the finished epoch's row keeps its values
            # the next validation gets a new row under this epoch's row (the old one stays hidden; rich's task
            # ids are indexes into ``progress.tasks``, so rows are never removed)
            self.val_progress_bar_id = None
        description = self._epoch_description(trainer.current_epoch)
        task_id = self._add_or_reset("train_progress_bar_id", self.total_train_batches, description, new=new_row)
        self._train_rows[task_id] = None
        self.refresh()

    @_ignores_outputs
    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.train_progress_bar_id is None:
            return
        current = batch_idx + 1
        if current == self.total_train_batches or time.perf_counter() - self._last_metrics >= self.min_redraw_interval:
            self._read_metrics(trainer, pl_module)
        self._advance(self.train_progress_bar_id, current)

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self.train_progress_bar_id is not None:
            self._read_metrics(trainer, pl_module)
            self.refresh()

    # -- validation ----------------------------------------------------------------------------------------
    @override
    def on_validation_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if trainer.state.fn != "fit":
            self._start(trainer)

    @override
    def on_validation_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.progress is None or self._stopped or not self.has_dataloader_changed(dataloader_idx):
            return
        total = self.total_val_batches_current_dataloader
        if trainer.sanity_checking:
            self._add_or_reset("val_sanity_progress_bar_id", total, self.sanity_check_description)
        else:
            self._add_or_reset("val_progress_bar_id", total, self.validation_description)
        self.refresh()

    @override
    def on_validation_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        task_id = self.val_sanity_progress_bar_id if trainer.sanity_checking else self.val_progress_bar_id
        self._advance(task_id, batch_idx + 1)

    @override
    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self.progress is not None and trainer.state.fn == "fit":
            if not trainer.sanity_checking:
                self._hide(self.val_progress_bar_id)
            self._read_metrics(trainer, pl_module)
        self.reset_dataloader_idx_tracker()

    # -- test and predict ------------------------------------------------------------------------------------
    @override
    def on_test_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._start(trainer)

    @override
    def on_test_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.progress is not None and not self._stopped and self.has_dataloader_changed(dataloader_idx):
            total = self.total_test_batches_current_dataloader
            self._add_or_reset("test_progress_bar_id", total, self.test_description)

    @override
    def on_test_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._advance(self.test_progress_bar_id, batch_idx + 1)

    @override
    def on_test_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.reset_dataloader_idx_tracker()

    @override
    def on_predict_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._start(trainer)

    @override
    def on_predict_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.progress is not None and not self._stopped and self.has_dataloader_changed(dataloader_idx):
            total = self.total_predict_batches_current_dataloader
            self._add_or_reset("predict_progress_bar_id", total, self.predict_description)

    @override
    def on_predict_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._advance(self.predict_progress_bar_id, batch_idx + 1)

    @override
    def on_predict_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.reset_dataloader_idx_tracker()

    # -- end of a stage ----------------------------------------------------------------------------------------
    @override
    def teardown(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        """The stage's rows stay on screen as last drawn (and readable in ``progress``) until the next stage starts."""
        self._stop()

    @override
    def on_exception(self, trainer: "Trainer", pl_module: "LightningModule", exception: BaseException) -> None:
        self._stop()

    @override
    def print(self, *args: Any, sep: str = " ", **kwargs: Any) -> None:
        if self.progress is not None and not self._stopped:
            self.progress.console.print(*args, sep=sep, **kwargs)
        else:
            print(*args, sep=sep, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        # the live display holds a thread and locks; a pickled bar starts drawing afresh
        state = self.__dict__.copy()
        state["progress"] = None
        state["_stopped"] = False
        state["_swapped_streams"] = []
        return state


def _global_console() -> "Console":
    import rich

    return rich.get_console()
