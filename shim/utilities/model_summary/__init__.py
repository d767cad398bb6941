"""Parameter-count summaries of a LightningModule."""

from shim.utilities.model_summary.model_summary import ModelSummary, get_human_readable_count, summarize

__all__ = ["ModelSummary", "get_human_readable_count", "summarize"]
