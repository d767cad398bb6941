"""Experiment loggers (arrive with the loggers work)."""

__all__: list[str] = []
