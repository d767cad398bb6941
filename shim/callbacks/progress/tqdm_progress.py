"""``TQDMProgressBar``: tqdm bars for training, validation, testing and prediction.

Redrawing a terminal line costs far more than a small training step, so the bars redraw at most every
``min_redraw_interval`` seconds (and on the last batch), and the shown metrics are read from the device only
when a redraw happens.
"""

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from tqdm import tqdm as _tqdm
from typing_extensions import override

from shim.callbacks.callback import _ignores_outputs
from shim.callbacks.progress.progress_bar import RefreshingProgressBar, redirect_console_logs, restore_console_logs
from shim.callbacks.progress.tqdm_bar import Tqdm, convert_inf

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["TQDMProgressBar", "Tqdm", "convert_inf"]


class TQDMProgressBar(RefreshingProgressBar):
    """A tqdm bar per stage, showing ``v_num`` and the ``prog_bar=True`` metrics after the rate.

    Override ``init_sanity_tqdm``, ``init_train_tqdm``, ``init_validation_tqdm``, ``init_test_tqdm`` or
    ``init_predict_tqdm`` to change a bar.

    Args:
        refresh_rate: Redraw at most every this many batches; 0 disables the bar. ``TQDM_MINITERS`` in the
            environment raises it; on Colab (``COLAB_GPU``) the default 1 becomes 20.
        process_position: Line offset, for several bars from several trainers.
        leave: Keep each finished epoch's bar on screen.
    """

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
    min_redraw_interval = 0.1

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False) -> None:
        super().__init__(refresh_rate)
        self._refresh_rate = _refresh_rate_from_environment(refresh_rate)
        self._process_position = process_position
        self._leave = leave
        self._train_bar: Any = None
        self._val_bar: Any = None
        self._test_bar: Any = None
        self._predict_bar: Any = None
        self._last_draw = 0.0
        self._swapped_streams: list[tuple[logging.StreamHandler, Any]] = []

    @property
    def process_position(self) -> int:
        return self._process_position

    # the bars of the last run of each stage (closed once the stage ended)
    @property
    def train_progress_bar(self) -> Any:
        return self._train_bar

    @train_progress_bar.setter
    def train_progress_bar(self, bar: Any) -> None:
        self._train_bar = bar

    @property
    def val_progress_bar(self) -> Any:
        return self._val_bar

    @val_progress_bar.setter
    def val_progress_bar(self, bar: Any) -> None:
        self._val_bar = bar

    @property
    def test_progress_bar(self) -> Any:
        return self._test_bar

    @test_progress_bar.setter
    def test_progress_bar(self, bar: Any) -> None:
        self._test_bar = bar

    @property
    def predict_progress_bar(self) -> Any:
        return self._predict_bar

    @predict_progress_bar.setter
    def predict_progress_bar(self, bar: Any) -> None:
        self._predict_bar = bar

    def _bar(self, description: str, line: int, leave: bool, smoothing: float = 0.3) -> Tqdm:
        return Tqdm(
            desc=description,
            position=2 * self.process_position + line,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=smoothing,
            bar_format=self.BAR_FORMAT,
        )

    def init_sanity_tqdm(self) -> Tqdm:
        return self._bar(self.sanity_check_description, 0, leave=False)

    def init_train_tqdm(self) -> Tqdm:
        return self._bar(self.train_description, 0, leave=True, smoothing=0)

    def init_validation_tqdm(self) -> Tqdm:
        # below the training bar in fit; on its own (and kept) in validate
        inside_fit = self.trainer.state.fn != "validate"
        return self._bar(self.validation_description, int(inside_fit), leave=not inside_fit)

    def init_test_tqdm(self) -> Tqdm:
        return self._bar(self.test_description, 0, leave=True)

    def init_predict_tqdm(self) -> Tqdm:
        return self._bar(self.predict_description, 0, leave=True, smoothing=0)

    def _moves(self, current: int, total: int | float | None) -> bool:
        """Whether the bar's count moves at this batch: every ``refresh_rate`` batches and on the last one."""
        return self.is_enabled and (current % self.refresh_rate == 0 or current == total)

    def _redraw_due(self, current: int, total: int | float | None) -> bool:
        """Whether a moved bar is also redrawn (with fresh metrics): throttled in time, always on the last batch."""
        return current == total or time.perf_counter() - self._last_draw >= self.min_redraw_interval

    def _draw(self, bar: Any, current: int, postfix: dict[str, Any] | None = None) -> None:
        if bar is None or bar.disable:
            return
        bar.n = current
        if postfix is not None:
            bar.set_postfix(postfix, refresh=False)
        bar.refresh()
        self._last_draw = time.perf_counter()

    def _advance(self, bar: Any, current: int) -> None:
        """An evaluation bar: the count moves on schedule, the line is redrawn when due."""
        if bar is None or bar.disable or not self._moves(current, bar.total):
            return
        if self._redraw_due(current, bar.total):
            self._draw(bar, current)
        else:
            bar.n = current

    @staticmethod
    def _restart(bar: Any, total: int | float | None, description: str) -> None:
        bar.reset()
        bar.total = convert_inf(total)
        bar.initial = 0
        bar.set_description(description)

    # -- sanity check ------------------------------------------------------------------------------------
    @override
    def on_sanity_check_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.val_progress_bar = self.init_sanity_tqdm()
        self.train_progress_bar = Tqdm(disable=True)  # stands in until training starts

    @override
    def on_sanity_check_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.val_progress_bar.close()
        self.train_progress_bar.close()

    # -- training ------------------------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.train_progress_bar = self.init_train_tqdm()
        self._redirect_logs()

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule", *args: Any) -> None:
        if self._leave:
            # the finished epoch's bar stays on its line; this epoch gets a fresh one below it
            self.train_progress_bar = self.init_train_tqdm()
        self._restart(self.train_progress_bar, self.total_train_batches, f"Epoch {trainer.current_epoch}")

    @_ignores_outputs
    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # the per-step path of the default bar: no calls but the redraw (``_moves`` and ``_redraw_due`` inlined)
        bar, current = self._train_bar, batch_idx + 1
        if bar is None or bar.disable:
            return
        last = current == bar.total
        if not last and (current % self._refresh_rate or not self._enabled):
            return
        if last or time.perf_counter() - self._last_draw >= self.min_redraw_interval:
            self._draw(bar, current, self.get_metrics(trainer, pl_module))
        else:
            bar.n = current

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        bar = self.train_progress_bar
        if not bar.disable:
            done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
            self._draw(bar, done, self.get_metrics(trainer, pl_module))
        if self._leave:
            bar.close()

    @override
    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.train_progress_bar.close()
        self._restore_logs()

    @override
    def teardown(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        self._restore_logs()

    # -- validation, test and predict --------------------------------------------------------------------------
    @override
    def on_validation_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not trainer.sanity_checking:
            self.val_progress_bar = self.init_validation_tqdm()

    @override
    def on_validation_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            stage = self.sanity_check_description if trainer.sanity_checking else self.validation_description
            total = self.total_val_batches_current_dataloader
            self._restart(self.val_progress_bar, total, f"{stage} DataLoader {dataloader_idx}")

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
        self._advance(self.val_progress_bar, batch_idx + 1)

    @override
    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not trainer.sanity_checking:
            self.val_progress_bar.close()
        if trainer.state.fn == "fit" and not trainer.sanity_checking and not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))
        self.reset_dataloader_idx_tracker()

    @override
    def on_test_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.test_progress_bar = self.init_test_tqdm()

    @override
    def on_test_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            total = self.total_test_batches_current_dataloader
            self._restart(self.test_progress_bar, total, f"{self.test_description} DataLoader {dataloader_idx}")

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
        self._advance(self.test_progress_bar, batch_idx + 1)

    @override
    def on_test_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.test_progress_bar.close()
        self.reset_dataloader_idx_tracker()

    @override
    def on_predict_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.predict_progress_bar = self.init_predict_tqdm()

    @override
    def on_predict_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            total = self.total_predict_batches_current_dataloader
            self._restart(self.predict_progress_bar, total, f"{self.predict_description} DataLoader {dataloader_idx}")

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
        self._advance(self.predict_progress_bar, batch_idx + 1)

    @override
    def on_predict_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.predict_progress_bar.close()
        self.reset_dataloader_idx_tracker()

    # -- output ------------------------------------------------------------------------------------------
    @override
    def print(self, *args: Any, sep: str = " ", **kwargs: Any) -> None:
        """Print above the bars, through the bar of the running stage; plain ``print`` when none is drawn."""
        bars = (self._train_bar, self._val_bar, self._test_bar, self._predict_bar)
        active = next((bar for bar in bars if bar is not None and not bar.disable), None)
        if active is not None:
            active.write(sep.join(map(str, args)), **kwargs)
        else:
            print(*args, sep=sep, **kwargs)

    def _redirect_logs(self) -> None:
        """While the bars are drawn, log lines (a stop reason, a checkpoint note) print on their own line above them.

        Written straight to the terminal, they would be glued to the bar's line and leave a copy of the bar below.
        """
        if self.is_enabled and not self._swapped_streams:
            streams = (sys.stdout, sys.stderr)
            self._swapped_streams = redirect_console_logs({s: _AboveBars(s) for s in streams})

    def _restore_logs(self) -> None:
        restore_console_logs(self._swapped_streams)
        self._swapped_streams = []

    def __getstate__(self) -> dict[str, Any]:
        # tqdm bars hold their output stream and a lock; a pickled bar callback starts without them
        state = {key: None if isinstance(value, _tqdm) else value for key, value in vars(self).items()}
        state["_swapped_streams"] = []
        return state

    def state_dict(self) -> dict[str, Any]:
        return {}


class _AboveBars:
    """A stream that takes the bars off the screen, writes, and draws them again."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with _tqdm.external_write_mode(file=self._stream):
            return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()


def _refresh_rate_from_environment(refresh_rate: int) -> int:
    """``TQDM_MINITERS`` sets a minimum; on Colab the default rate of 1 redraws too often for its output, so 20."""
    if os.environ.get("COLAB_GPU") and refresh_rate == 1:
        return 20
    if "TQDM_MINITERS" in os.environ:
        return max(int(os.environ["TQDM_MINITERS"]), refresh_rate)
    return refresh_rate
