"""Parameter-count summaries of a LightningModule."""

from shim.utilities.model_summary.model_summary import (
    ModelSummary,
    format_summary_table,
    get_formatted_model_size,
    get_human_readable_count,
    summarize,
)

__all__ = ["ModelSummary", "format_summary_table", "get_formatted_model_size", "get_human_readable_count", "summarize"]
