"""Where ``ModelCheckpoint`` puts its files and what it names them: the folder, ``{metric}`` templates, last files.

Pure functions of their arguments (and, for the folder listing, the file system), so the callback only decides
when to save.
"""

import os
import re
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["default_checkpoint_dir", "fill_filename_template", "find_last_checkpoints"]

# "{epoch}", "{val_loss:.2f}", "{val/acc}": the field name runs up to the format spec or the closing brace
_FIELD = re.compile(r"(\{.*?)[:\}]")


def fill_filename_template(
    template: str | None,
    metrics: dict[str, Any],
    prefix: str | None = None,
    auto_insert_metric_name: bool = True,
    join_char: str = "-",
    equals_char: str = "=",
) -> str:
    """The file name (no folder, no extension) that ``template`` gives for ``metrics``.

    An empty template means ``"{epoch}-{step}"``. With ``auto_insert_metric_name`` a field ``{name}`` becomes
    ``name=<value>``; a field missing from ``metrics`` formats as 0. Names may hold dots and slashes.

    Example::

        fill_filename_template("{epoch:03d}-{val/acc:.2f}", {"epoch": 3, "val/acc": 0.5})  # "epoch=003-val/acc=0.50"
    """
    filename = template or "{epoch}" + join_char + "{step}"
    # longest names first, so "{epoch_test}" is not half-replaced by "{epoch}"
    fields = sorted(set(_FIELD.findall(filename)), key=len, reverse=True)
    values = dict(metrics)
    for field in fields:
        name = field[1:]
        if auto_insert_metric_name:
            filename = filename.replace(field, name + equals_char + "{" + name)
        # index into one mapping argument, so names with dots ("mAP@0.5") are not read as attribute access
        filename = filename.replace(field, f"{{0[{name}]")
        values.setdefault(name, torch.tensor(0))
    filename = filename.format(values)
    return filename if prefix is None else join_char.join([prefix, filename])


def default_checkpoint_dir(trainer: "Trainer") -> str:
    """``<save_dir>/<name>/<version>/checkpoints`` of the first logger, or ``<default_root_dir>/checkpoints``."""
    if not trainer.loggers:
        return os.path.join(trainer.default_root_dir, "checkpoints")
    logger = trainer.loggers[0]
    save_dir = logger.save_dir if logger.save_dir is not None else trainer.default_root_dir
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return os.path.join(save_dir, str(logger.name), version, "checkpoints")


def find_last_checkpoints(folder: str, name_last: str, extension: str) -> set[str]:
    """The files of ``folder`` whose name starts with the ``name_last`` template, ``-v<N>`` versions included."""
    if not os.path.isdir(folder):
        return set()
    pattern = re.compile(rf"^{name_last}(-(\d+))?")
    return {
        os.path.normpath(os.path.join(folder, name))
        for name in os.listdir(folder)
        if name.endswith(extension) and pattern.match(name[: -len(extension)])
    }
