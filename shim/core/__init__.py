"""The user-facing building blocks: LightningModule and LightningDataModule."""

from shim.core.datamodule import LightningDataModule
from shim.core.module import LightningModule

__all__ = ["LightningDataModule", "LightningModule"]
