"""Batch-size and learning-rate tuning (arrives with the 1.x API)."""

__all__: list[str] = []
