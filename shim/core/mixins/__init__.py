"""Mixins shared by LightningModule and LightningDataModule."""

from shim.core.mixins.hparams_mixin import HyperparametersMixin

__all__ = ["HyperparametersMixin"]
