"""shim: the PyTorch Lightning Trainer API, written directly on raw PyTorch.

``import shim as pl`` gives the names a Lightning script uses: ``Trainer``, ``LightningModule``,
``LightningDataModule``, ``Callback`` and ``seed_everything``.
"""

import logging

from shim import compat as _compat
from shim.__about__ import __version__
from shim.callbacks.callback import Callback
from shim.core.datamodule import LightningDataModule
from shim.core.module import LightningModule
from shim.trainer.trainer import Trainer
from shim.utilities.seed import seed_everything

__all__ = ["__version__", "Callback", "LightningDataModule", "LightningModule", "Trainer", "seed_everything"]

# Like Lightning: INFO messages (model summary, stop reasons, seeds) reach stderr unless the application configured
# logging. shim logs under Lightning's logger names (see shim.utilities.rank_zero.get_logger).
for _name in ("lightning.pytorch", "lightning.fabric"):
    _logger = logging.getLogger(_name)
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.INFO)
    if not logging.getLogger().hasHandlers() and not _logger.handlers:
        _logger.addHandler(logging.StreamHandler())
        _logger.propagate = False

# SHIM_COMPAT=1 (set by `shim run` for the processes it starts) makes Lightning imports resolve to shim.
_compat.install_from_environment()
