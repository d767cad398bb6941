"""``DeviceStatsMonitor``: send the accelerator's statistics (memory, load) to the loggers around every batch."""

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from shim.accelerators.cpu import get_cpu_stats, import_psutil
from shim.callbacks.callback import Callback
from shim.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["DeviceStatsMonitor"]


class DeviceStatsMonitor(Callback):
    """Log what the accelerator reports about its device at the start and end of each train, validation and test batch.

    Each value goes to every logger as ``DeviceStatsMonitor.<hook>/<stat>`` (the logger's ``group_separator`` in
    place of ``/``), for example ``DeviceStatsMonitor.on_train_batch_end/cpu_percent``, at the Trainer's
    ``log_every_n_steps`` cadence and at the training step count. The statistics are the accelerator's
    ``get_device_stats``: on the CPU ``cpu_percent``, ``cpu_vm_percent`` and ``cpu_swap_percent`` (through
    ``psutil``); on a CUDA GPU the allocator's counters from ``torch.cuda.memory_stats`` (``allocated_bytes.all.peak``,
    ``reserved_bytes.all.current``, ``num_ooms``, ...), in bytes.

    Args:
        cpu_stats: None logs the CPU statistics only when training on the CPU; True logs them on any accelerator
            (next to the GPU's); False never logs them (on the CPU accelerator that means nothing is logged).

    Raises:
        MisconfigurationException: When fitting with a Trainer that has no logger.
        ModuleNotFoundError: When the CPU statistics are wanted and ``psutil`` is not installed.
    """

    def __init__(self, cpu_stats: bool | None = None) -> None:
        self.cpu_stats = cpu_stats

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if stage != "fit":
            return
        if not trainer.loggers:
            raise MisconfigurationException(
                "DeviceStatsMonitor sends its statistics to the Trainer's loggers, but this Trainer has none:"
                " pass a logger to `Trainer(logger=...)` or remove the callback."
            )
        on_cpu = trainer.strategy.root_device.type == "cpu"
        if (self.cpu_stats is None and on_cpu) or self.cpu_stats:
            import_psutil("DeviceStatsMonitor's CPU statistics")  # fail now rather than at the first batch

    def _log_stats(self, trainer: "Trainer", hook: str) -> None:
        if not trainer._metrics.should_update_logs():
            return
        device = trainer.strategy.root_device
        on_cpu = device.type == "cpu"
        if on_cpu and self.cpu_stats is False:
            return
        accelerator = trainer.accelerator
        stats = dict(accelerator.get_device_stats(device)) if accelerator is not None else {}
        if self.cpu_stats and not on_cpu:  # the CPU accelerator's own stats are the CPU stats already
            stats.update(get_cpu_stats())
        prefix = f"{type(self).__qualname__}.{hook}"
        step = trainer.fit_loop.epoch_loop.batches_that_stepped
        for logger in trainer.loggers:
            separator = getattr(logger, "group_separator", "/")
            logger.log_metrics({f"{prefix}{separator}{name}": value for name, value in stats.items()}, step=step)

    @override
    def on_train_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int
    ) -> None:
        self._log_stats(trainer, "on_train_batch_start")

    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._log_stats(trainer, "on_train_batch_end")

    @override
    def on_validation_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._log_stats(trainer, "on_validation_batch_start")

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
        self._log_stats(trainer, "on_validation_batch_end")

    @override
    def on_test_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._log_stats(trainer, "on_test_batch_start")

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
        self._log_stats(trainer, "on_test_batch_end")
