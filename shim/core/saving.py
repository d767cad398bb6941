"""Building a module or datamodule from a checkpoint: hyper-parameters in, overrides on top, weights loaded.

Also the hyper-parameter files: ``hparams.yaml`` as the loggers write it, and the ``meta_tags.csv`` of old runs.
"""

import ast
import csv
import inspect
import os
from argparse import Namespace
from collections.abc import Callable
from typing import IO, Any, TypeVar

import torch

from shim.trainer.checkpoint_files import load_checkpoint_file
from shim.trainer.checkpointing import check_state_dict
from shim.utilities.parsing import AttributeDict, parse_class_init_keys
from shim.utilities.rank_zero import rank_zero_warn

__all__ = [
    "CHECKPOINT_PAST_HPARAMS_KEYS",
    "convert",
    "load_from_checkpoint",
    "load_hparams_from_tags_csv",
    "load_hparams_from_yaml",
    "save_hparams_to_tags_csv",
    "save_hparams_to_yaml",
    "update_hparams",
]

T = TypeVar("T")

# where checkpoints of very old Lightning versions kept a module's hyper-parameters, oldest first
CHECKPOINT_PAST_HPARAMS_KEYS = ("hparams", "module_arguments")


def update_hparams(hparams: dict[str, Any], updates: dict[str, Any]) -> None:
    """Write ``updates`` into ``hparams`` in place, merging nested dicts key by key instead of replacing them."""
    for key, value in updates.items():
        if key in hparams and isinstance(value, dict):
            update_hparams(hparams[key], value)
        else:
            hparams[key] = value


def convert(val: str) -> Any:
    """A CSV cell back as the Python literal it spells (``"32"`` -> ``32``); other text stays a string."""
    try:
        return ast.literal_eval(val)
    except (ValueError, SyntaxError):
        return val


def load_hparams_from_tags_csv(tags_csv: str | os.PathLike[str]) -> dict[str, Any]:
    """Read hyper-parameters from a ``key,value`` CSV file (``meta_tags.csv``); a missing file gives ``{}``."""
    path = os.fspath(tags_csv)
    if not os.path.isfile(path):
        rank_zero_warn(f"Missing hyper-parameter file {path}: no hyper-parameters were read.", category=RuntimeWarning)
        return {}
    with open(path, newline="") as file:
        rows = list(csv.reader(file, delimiter=","))
    return {row[0]: convert(row[1]) for row in rows[1:]}


def save_hparams_to_tags_csv(tags_csv: str | os.PathLike[str], hparams: dict[str, Any] | Namespace) -> None:
    """Write hyper-parameters as a ``key,value`` CSV file with a header row.

    Raises:
        RuntimeError: If the folder of ``tags_csv`` does not exist.
    """
    path = os.fspath(tags_csv)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder or "."):
        raise RuntimeError(f"Cannot write {path}: the folder {folder} does not exist.")
    if isinstance(hparams, Namespace):
        hparams = vars(hparams)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["key", "value"])
        writer.writerow({"key": "key", "value": "value"})
        for key, value in hparams.items():
            writer.writerow({"key": key, "value": value})


def load_hparams_from_yaml(config_yaml: str | os.PathLike[str], use_omegaconf: bool = True) -> Any:
    """Read hyper-parameters from a YAML file; a missing file gives ``{}`` with a warning.

    Args:
        config_yaml: The file.
        use_omegaconf: Return an OmegaConf ``DictConfig`` when omegaconf is installed and can hold the values.
    """
    import yaml

    path = os.fspath(config_yaml)
    if not os.path.isfile(path):
        rank_zero_warn(f"Missing hyper-parameter file {path}: no hyper-parameters were read.", category=RuntimeWarning)
        return {}
    with open(path) as f:
        loaded = dict(yaml.full_load(f) or {})
    if use_omegaconf:
        from shim.utilities.imports import _OMEGACONF_AVAILABLE

        if _OMEGACONF_AVAILABLE:
            from omegaconf import OmegaConf
            from omegaconf.errors import UnsupportedValueType, ValidationError

            try:
                return OmegaConf.create(loaded)
            except (UnsupportedValueType, ValidationError):
                pass
    return loaded


def save_hparams_to_yaml(
    config_yaml: str | os.PathLike[str], hparams: dict[str, Any] | Namespace | Any, use_omegaconf: bool = True
) -> None:
    """Write hyper-parameters to a YAML file, as the loggers write ``hparams.yaml``.

    Args:
        config_yaml: The file to write; its folder must exist.
        hparams: A dict, ``AttributeDict``, ``argparse.Namespace`` or OmegaConf config.
        use_omegaconf: Write through OmegaConf (interpolations resolved) when it is installed and can hold the values.

    Raises:
        RuntimeError: If the folder of ``config_yaml`` does not exist.
        TypeError: If ``hparams`` is none of the types above.
    """
    from shim.loggers.hparams import save_hparams_to_yaml as save

    save(config_yaml, hparams, use_omegaconf=use_omegaconf)


def _convert_loaded_hparams(hparams: dict[str, Any], hparams_type: Callable[..., Any] | str | None) -> Any:
    """Saved hyper-parameters back in the container type the checkpoint names (a string names a namespace)."""
    if not hparams_type:
        return hparams
    if isinstance(hparams_type, str):
        return AttributeDict(hparams)
    return hparams_type(hparams)


def _instantiate(cls: type[T], checkpoint: dict[str, Any], overrides: dict[str, Any]) -> T:
    """Call ``cls`` with the checkpoint's saved hyper-parameters, ``overrides`` on top.

    The overrides are also written into the checkpoint's hyper-parameters, so ``on_load_checkpoint`` sees them.
    """
    from shim.core.module import LightningModule

    key: str = cls.CHECKPOINT_HYPER_PARAMS_KEY  # type: ignore[attr-defined]
    if checkpoint.get(key) is None:
        checkpoint[key] = {}
    checkpoint[key].update(overrides)
    saved: Any = {}
    if issubclass(cls, LightningModule):
        for past_key in CHECKPOINT_PAST_HPARAMS_KEYS:
            saved.update(checkpoint.get(past_key) or {})
    saved.update(checkpoint[key])
    saved = _convert_loaded_hparams(saved, checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_TYPE))  # type: ignore[attr-defined]

    self_name, args_name, kwargs_name = parse_class_init_keys(cls)
    dropped = (self_name, args_name, kwargs_name)
    names = [n for n in inspect.signature(cls.__init__).parameters if n not in dropped]
    hparams_name = checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_NAME)  # type: ignore[attr-defined]
    # saved with save_hyperparameters(some_dict): the dict goes back in under its argument's name
    kwargs = {hparams_name: saved} if hparams_name and hparams_name in names else dict(saved)
    kwargs.update(overrides)
    if not inspect.getfullargspec(cls.__init__).varkw:
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    return cls(**kwargs)


def load_from_checkpoint(
    cls: type[T],
    checkpoint_path: str | os.PathLike | IO[bytes],
    map_location: Any = None,
    hparams_file: str | os.PathLike | None = None,
    strict: bool | None = None,
    weights_only: bool | None = None,
    **kwargs: Any,
) -> T:
    """Build ``cls`` from the hyper-parameters saved in a checkpoint (``kwargs`` win) and load its weights.

    ``checkpoint_path`` may be a local path, an ``http(s)`` URL or an open binary file. ``weights_only=None`` leaves
    the loader to torch (safe by default; see ``shim.trainer.checkpoint_files``).

    Raises:
        FileNotFoundError, pickle.UnpicklingError, RuntimeError, EOFError, ValueError: For a missing, unsafe,
            damaged or non-checkpoint file, of the class torch raises (see ``load_checkpoint_file``).
        RuntimeError: If the weights do not fit the model (with ``strict``); the model is then not returned.
    """
    from shim.core.datamodule import LightningDataModule

    is_path = isinstance(checkpoint_path, (str, os.PathLike))
    path = os.fspath(checkpoint_path) if is_path else repr(checkpoint_path)  # type: ignore[arg-type]
    if map_location is None:
        map_location = _cpu_if_device_missing
    checkpoint = load_checkpoint_file(checkpoint_path, map_location=map_location, weights_only=weights_only)
    if hparams_file is not None:
        extension = os.fspath(hparams_file).rsplit(".", 1)[-1].lower()
        if extension == "csv":
            hparams: Any = load_hparams_from_tags_csv(hparams_file)
        elif extension in ("yml", "yaml"):
            hparams = load_hparams_from_yaml(hparams_file)
        else:
            raise ValueError(f"hparams_file={os.fspath(hparams_file)!r}: a .csv, .yml or .yaml file is required")
        checkpoint[cls.CHECKPOINT_HYPER_PARAMS_KEY] = hparams  # type: ignore[attr-defined]
    obj = _instantiate(cls, checkpoint, kwargs)
    if isinstance(obj, LightningDataModule):
        key = type(obj).__qualname__
        if key in checkpoint:
            obj.load_state_dict(checkpoint[key])
        return obj
    module: Any = obj
    if strict is None:
        strict = module.strict_loading
    elif module._strict_loading is not None and strict != module.strict_loading:
        raise ValueError(
            f"load_from_checkpoint(strict={strict}) contradicts `{type(module).__name__}.strict_loading ="
            f" {module.strict_loading}`; remove one of them."
        )
    module.on_load_checkpoint(checkpoint)
    state_dict = checkpoint["state_dict"]
    check_state_dict(module, state_dict, strict, path)
    result = module.load_state_dict(state_dict, strict=strict)
    if not strict and result.missing_keys:
        rank_zero_warn(f"{path} (strict=False) has no values for these keys of the model: {result.missing_keys}")
    if not strict and result.unexpected_keys:
        rank_zero_warn(f"{path} (strict=False) has keys the model does not use: {result.unexpected_keys}")
    if not state_dict:
        rank_zero_warn(f"The state dict in {path!r} contains no parameters.")
        return obj
    device = next((t.device for t in state_dict.values() if isinstance(t, torch.Tensor)), torch.device("cpu"))
    return module.to(device)


def _cpu_if_device_missing(storage: Any, location: str) -> Any:
    """Keep tensors where they were saved when that device exists here, else load them on the CPU."""
    if location.startswith("cuda") and not torch.cuda.is_available():
        return storage.cpu()
    if location.startswith("mps"):
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            return storage.cpu()
    return None
