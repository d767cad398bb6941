"""``ModelSummary`` callback: print the layer table when fit starts."""

from typing import TYPE_CHECKING

from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.model_summary.model_summary import summarize

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

from shim.utilities.rank_zero import get_logger

log = get_logger(__name__)

__all__ = ["ModelSummary"]


class ModelSummary(Callback):
    """Logs the summary table (at INFO level) on global rank zero when fit starts.

    Args:
        max_depth: How deep to list submodules: 1 (default) lists the direct children, -1 all, 0 none.
    """

    def __init__(self, max_depth: int = 1) -> None:
        self._max_depth = max_depth

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not self._max_depth or not trainer.is_global_zero:
            return
        summary = summarize(pl_module, max_depth=self._max_depth)
        log.info("\n" + str(summary))
