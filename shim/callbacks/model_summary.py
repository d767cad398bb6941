"""``ModelSummary`` callback: print the layer table when fit starts."""

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.model_summary.model_summary import format_summary_table, summarize

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
        **summarize_kwargs: Passed on to :meth:`summarize` (``RichModelSummary`` reads ``header_style``).
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        self._max_depth = max_depth
        self._summarize_kwargs = summarize_kwargs

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not self._max_depth or not trainer.is_global_zero:
            return
        summary = summarize(pl_module, max_depth=self._max_depth)
        self.summarize(
            summary.rows(),
            summary.total_parameters,
            summary.trainable_parameters,
            summary.model_size,
            summary.total_training_modes,
            total_flops=summary.total_flops,  # by name: an override written before it existed takes it in **kwargs
            **self._summarize_kwargs,
        )

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Show the summary; ``summary_data`` holds the table's columns as ``(header, values)`` pairs."""
        table = format_summary_table(
            summary_data, total_parameters, trainable_parameters, model_size, total_training_modes, total_flops
        )
        log.info("\n" + table)
