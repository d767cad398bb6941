"""``ProgressBar``: the base class of progress bars, with the batch totals and the metrics they show."""

import logging
from typing import TYPE_CHECKING, Any

from shim.callbacks.callback import Callback
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["ProgressBar", "RefreshingProgressBar", "redirect_console_logs", "restore_console_logs"]


class ProgressBar(Callback):
    """Knows how many batches each stage has; subclasses draw them."""

    def __init__(self) -> None:
        self._trainer: Trainer | None = None
        self._current_eval_dataloader_idx: int | None = None

    @property
    def trainer(self) -> "Trainer":
        if self._trainer is None:
            raise TypeError(f"{type(self).__name__} has no Trainer yet: it gets one when a run starts.")
        return self._trainer

    @property
    def sanity_check_description(self) -> str:
        return "Sanity Checking"

    @property
    def train_description(self) -> str:
        return "Training"

    @property
    def validation_description(self) -> str:
        return "Validation"

    @property
    def test_description(self) -> str:
        return "Testing"

    @property
    def predict_description(self) -> str:
        return "Predicting"

    @property
    def is_enabled(self) -> bool:
        return True

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    def disable(self) -> None:
        raise NotImplementedError

    def enable(self) -> None:
        raise NotImplementedError

    def print(self, *args: Any, **kwargs: Any) -> None:
        print(*args, **kwargs)

    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        self._trainer = trainer
        if not trainer.is_global_zero:
            self.disable()

    @property
    def total_train_batches(self) -> int | float:
        return self.trainer.num_training_batches

    @property
    def total_val_batches_current_dataloader(self) -> int | float:
        batches = self.trainer.num_sanity_val_batches if self.trainer.sanity_checking else self.trainer.num_val_batches
        idx = self._current_eval_dataloader_idx or 0
        return batches[idx] if idx < len(batches) else 0

    @property
    def total_test_batches_current_dataloader(self) -> int | float:
        batches = self.trainer.num_test_batches
        idx = self._current_eval_dataloader_idx or 0
        return batches[idx] if idx < len(batches) else 0

    @property
    def total_predict_batches_current_dataloader(self) -> int | float:
        batches = self.trainer.num_predict_batches
        idx = self._current_eval_dataloader_idx or 0
        return batches[idx] if idx < len(batches) else 0

    @property
    def total_val_batches(self) -> int | float:
        if not self.trainer.fit_loop.epoch_loop.should_check_val_epoch():
            return 0
        return sum(self.trainer.num_val_batches)

    def has_dataloader_changed(self, dataloader_idx: int) -> bool:
        old = self._current_eval_dataloader_idx
        self._current_eval_dataloader_idx = dataloader_idx
        return old != dataloader_idx

    def reset_dataloader_idx_tracker(self) -> None:
        self._current_eval_dataloader_idx = None

    def get_metrics(self, trainer: "Trainer", pl_module: "LightningModule") -> dict[str, int | str | float | dict]:
        """What the bar shows: ``v_num`` (the logger's version) and every ``prog_bar=True`` metric."""
        standard = get_standard_metrics(trainer)
        shown = trainer.progress_bar_metrics
        duplicates = sorted(set(standard) & set(shown))
        if duplicates:
            rank_zero_warn(f"The progress bar already shows {duplicates}; the logged values of the same names win.")
        return {**standard, **shown}


class RefreshingProgressBar(ProgressBar):
    """What shim's two bars share: a refresh rate (0 draws nothing) and a switch that ``disable``/``enable`` turn."""

    def __init__(self, refresh_rate: int) -> None:
        super().__init__()
        if isinstance(refresh_rate, bool) or not isinstance(refresh_rate, int) or refresh_rate < 0:
            raise ValueError(f"refresh_rate={refresh_rate!r} is not valid: give an int >= 0 (0 disables the bar).")
        self._refresh_rate = refresh_rate
        self._enabled = True

    @property
    def refresh_rate(self) -> int:
        return self._refresh_rate

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.refresh_rate > 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True


def get_standard_metrics(trainer: "Trainer") -> dict[str, int | str]:
    """``{"v_num": version}`` when a logger has a version (a string version shows its last four characters).

    An empty version (``DummyLogger``, as with ``fast_dev_run``) shows nothing.
    """
    items: dict[str, int | str] = {}
    if trainer.loggers:
        versions: set[Any] = {getattr(logger, "version", None) for logger in trainer.loggers}
        versions -= {None, ""}
        if len(versions) == 1:
            version = versions.pop()
            items["v_num"] = version[-4:] if isinstance(version, str) else int(version)
        elif versions:
            items["v_num"] = "_".join(str(v) for v in versions)
    return items


def redirect_console_logs(routes: dict[Any, Any]) -> list[tuple[logging.StreamHandler, Any]]:
    """Point shim's console log handlers writing to a stream in ``routes`` at ``routes[stream]`` while bars are drawn.

    A bar redraws its line in place; a log line written straight to the terminal would land on that line. Returns
    what :func:`restore_console_logs` needs to undo it.
    """
    swapped = []
    for name in ("lightning.pytorch", "lightning.fabric"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is not logging.StreamHandler:
                continue
            routed = routes.get(handler.stream)
            if routed is not None and routed is not handler.stream:
                swapped.append((handler, handler.setStream(routed)))
    return swapped


def restore_console_logs(swapped: list[tuple[logging.StreamHandler, Any]]) -> None:
    for handler, stream in reversed(swapped):
        handler.setStream(stream)
