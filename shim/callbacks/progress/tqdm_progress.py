"""``TQDMProgressBar``: tqdm bars for training, validation, testing and prediction.

Redrawing a terminal line costs far more than a small training step, so the bars redraw at most every
``min_redraw_interval`` seconds (and on the last batch), and the shown metrics are read from the device only
when a redraw happens.
"""

import contextlib
import importlib
import logging
import math
import sys
import time
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from shim.callbacks.callback import _ignores_outputs
from shim.callbacks.progress.progress_bar import ProgressBar

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["TQDMProgressBar"]

_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def _tqdm_class() -> Any:
    return importlib.import_module("tqdm").tqdm


def _total(value: int | float) -> int | None:
    if isinstance(value, float) and math.isinf(value):
        return None
    return int(value)


class TQDMProgressBar(ProgressBar):
    """A tqdm bar per stage, showing ``v_num`` and the ``prog_bar=True`` metrics after the rate.

    Args:
        refresh_rate: Redraw at most every this many batches; 0 disables the bar.
        process_position: Line offset, for several bars from several trainers.
        leave: Keep each finished epoch's bar on screen.
    """

    min_redraw_interval = 0.1

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False) -> None:
        super().__init__()
        if isinstance(refresh_rate, bool) or not isinstance(refresh_rate, int) or refresh_rate < 0:
            raise ValueError(f"refresh_rate={refresh_rate!r} is not valid: give an int >= 0 (0 disables the bar).")
        self._refresh_rate = refresh_rate
        self._process_position = process_position
        self._leave = leave
        self._enabled = True
        self._train_bar: Any = None
        self._val_bar: Any = None
        self._test_bar: Any = None
        self._predict_bar: Any = None
        self._last_draw = 0.0
        self._log_redirect: contextlib.ExitStack | None = None

    @property
    def refresh_rate(self) -> int:
        return self._refresh_rate

    @property
    def process_position(self) -> int:
        return self._process_position

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.refresh_rate > 0

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    @override
    def disable(self) -> None:
        self._enabled = False

    @override
    def enable(self) -> None:
        self._enabled = True

    @property
    def train_progress_bar(self) -> Any:
        return self._train_bar

    @property
    def val_progress_bar(self) -> Any:
        return self._val_bar

    def _new_bar(self, desc: str, position_offset: int, leave: bool, total: int | float | None = None) -> Any:
        return _tqdm_class()(
            desc=desc,
            total=None if total is None else _total(total),
            position=2 * self.process_position + position_offset,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=_BAR_FORMAT,
        )

    def _due(self, current: int, total: int | float) -> bool:
        """Whether this batch redraws: every ``refresh_rate`` batches, throttled in time, and always at the end."""
        if not self.is_enabled:
            return False
        if current == total:
            return True
        if current % self.refresh_rate != 0:
            return False
        return time.perf_counter() - self._last_draw >= self.min_redraw_interval

    def _draw(self, bar: Any, current: int, postfix: dict[str, Any] | None = None) -> None:
        if bar is None or bar.disable:
            return
        bar.n = current
        if postfix is not None:
            bar.set_postfix(postfix, refresh=False)
        bar.refresh()
        self._last_draw = time.perf_counter()

    # -- sanity check ------------------------------------------------------------------------------------
    @override
    def on_sanity_check_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._val_bar = self._new_bar("Sanity Checking", 0, leave=False)
        self._train_bar = _NullBar()

    @override
    def on_sanity_check_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._close(self._val_bar)
        self._val_bar = None
        self._train_bar = None

    # -- training ------------------------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._train_bar = self._new_bar("Training", 0, leave=True)
        self._redirect_logs()

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule", *args: Any) -> None:
        if self._leave and trainer.current_epoch > 0 and self.is_enabled:
            # the finished epoch's bar stays on its line; this epoch gets a fresh one below it
            self._train_bar = self._new_bar("Training", 0, leave=True)
        bar = self._train_bar
        if bar is None or bar.disable:
            return
        bar.reset(total=_total(self.total_train_batches))
        bar.initial = 0
        bar.set_description(f"Epoch {trainer.current_epoch}")

    @_ignores_outputs
    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        current = batch_idx + 1
        if self._due(current, self._train_bar.total or float("inf")):
            self._draw(self._train_bar, current, self.get_metrics(trainer, pl_module))

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        bar = self._train_bar
        if bar is not None and not bar.disable:
            self._draw(
                bar, trainer.fit_loop.epoch_loop.batch_progress.current.completed, self.get_metrics(trainer, pl_module)
            )
        if self._leave and bar is not None:
            bar.close()

    @override
    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._close(self._train_bar)
        self._train_bar = None
        self._restore_logs()

    @override
    def teardown(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        self._restore_logs()

    # -- validation ----------------------------------------------------------------------------------------
    @override
    def on_validation_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not trainer.sanity_checking:
            self._val_bar = self._new_bar("Validation", 0 if trainer.state.fn != "fit" else 1, leave=False)

    @override
    def on_validation_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.has_dataloader_changed(dataloader_idx) or self._val_bar is None or self._val_bar.disable:
            return
        self._val_bar.reset(total=_total(self.total_val_batches_current_dataloader))
        self._val_bar.initial = 0
        desc = "Sanity Checking" if trainer.sanity_checking else "Validation"
        self._val_bar.set_description(f"{desc} DataLoader {dataloader_idx}")

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
        current = batch_idx + 1
        if self._val_bar is not None and self._due(current, self._val_bar.total or float("inf")):
            self._draw(self._val_bar, current)

    @override
    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not trainer.sanity_checking:
            self._close(self._val_bar)
            self._val_bar = None
        if trainer.state.fn == "fit" and self._train_bar is not None and not trainer.sanity_checking:
            bar = self._train_bar
            if not bar.disable:
                bar.set_postfix(self.get_metrics(trainer, pl_module))
        self.reset_dataloader_idx_tracker()

    # -- test and predict ------------------------------------------------------------------------------------
    @override
    def on_test_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._test_bar = self._new_bar("Testing", 0, leave=True)

    @override
    def on_test_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.has_dataloader_changed(dataloader_idx) or self._test_bar is None or self._test_bar.disable:
            return
        self._test_bar.reset(total=_total(self.total_test_batches_current_dataloader))
        self._test_bar.initial = 0
        self._test_bar.set_description(f"Testing DataLoader {dataloader_idx}")

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
        current = batch_idx + 1
        if self._test_bar is not None and self._due(current, self._test_bar.total or float("inf")):
            self._draw(self._test_bar, current)

    @override
    def on_test_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._close(self._test_bar)
        self._test_bar = None
        self.reset_dataloader_idx_tracker()

    @override
    def on_predict_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._predict_bar = self._new_bar("Predicting", 0, leave=True)

    @override
    def on_predict_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.has_dataloader_changed(dataloader_idx) or self._predict_bar is None or self._predict_bar.disable:
            return
        self._predict_bar.reset(total=_total(self.total_predict_batches_current_dataloader))
        self._predict_bar.initial = 0
        self._predict_bar.set_description(f"Predicting DataLoader {dataloader_idx}")

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
        current = batch_idx + 1
        if self._predict_bar is not None and self._due(current, self._predict_bar.total or float("inf")):
            self._draw(self._predict_bar, current)

    @override
    def on_predict_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._close(self._predict_bar)
        self._predict_bar = None
        self.reset_dataloader_idx_tracker()

    # -- output ------------------------------------------------------------------------------------------
    @override
    def print(self, *args: Any, sep: str = " ", **kwargs: Any) -> None:
        active = next(
            (b for b in (self._train_bar, self._val_bar, self._test_bar, self._predict_bar) if b is not None), None
        )
        if active is not None and not isinstance(active, _NullBar):
            kwargs.setdefault("file", sys.stdout)
            active.write(sep.join(map(str, args)), **kwargs)
        else:
            print(*args, sep=sep, **kwargs)

    def _redirect_logs(self) -> None:
        """Route the console handlers of shim's loggers through ``tqdm.write`` while the training bar is drawn.

        A message logged mid-run (a stop reason, a checkpoint note) then appears on its own line above the bar,
        instead of being glued to the bar's line and leaving a second copy of the bar below it.
        """
        if self.is_disabled or self._log_redirect is not None:
            return
        from tqdm.contrib.logging import logging_redirect_tqdm

        loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
        self._log_redirect = contextlib.ExitStack()
        self._log_redirect.enter_context(logging_redirect_tqdm(loggers=loggers, tqdm_class=_tqdm_class()))

    def _restore_logs(self) -> None:
        if self._log_redirect is not None:
            self._log_redirect.close()
            self._log_redirect = None

    @staticmethod
    def _close(bar: Any) -> None:
        if bar is not None:
            bar.close()

    def state_dict(self) -> dict[str, Any]:
        return {}


class _NullBar:
    """Stands in for the training bar while sanity checking, so hooks can touch it safely."""

    disable = True
    total = None

    def close(self) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass
