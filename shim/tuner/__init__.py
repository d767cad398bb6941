"""Batch-size and learning-rate tuning: ``Tuner`` (Lightning 2.x) and what ``trainer.tune`` (1.x) runs."""

from shim.tuner.tuning import Tuner

__all__ = ["Tuner"]
