"""Hyper-parameters as the loggers store them: the ``hparams.yaml`` file, and the flat form TensorBoard takes."""

import copy
import os
import sys
import warnings
from argparse import Namespace
from collections.abc import MutableMapping
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any

from torch import Tensor

from shim.utilities.parsing import AttributeDict

__all__ = ["save_hparams_to_yaml"]


def save_hparams_to_yaml(
    config_yaml: str | os.PathLike[str], hparams: dict[str, Any] | Namespace | Any, use_omegaconf: bool = True
) -> None:
    """Write hyper-parameters to a YAML file, the way Lightning writes ``hparams.yaml``.

    When omegaconf is installed (and ``use_omegaconf``), OmegaConf writes the file, with interpolations resolved and
    keys in their order; if it cannot hold a value, or without omegaconf, keys come out sorted, Enum values are
    written by their name, and a value YAML cannot represent is left out with a warning, its entry in ``hparams``
    replaced by the name of its type (so a later save writes that name).

    Args:
        config_yaml: The file to write; its folder must exist.
        hparams: A dict, ``AttributeDict``, ``argparse.Namespace`` or OmegaConf config.
        use_omegaconf: Whether to write through OmegaConf when it is installed.

    Raises:
        RuntimeError: The folder of ``config_yaml`` does not exist.
        TypeError: ``hparams`` is not a dict or a namespace (an OmegaConf config OmegaConf cannot write included).
    """
    import yaml

    from shim.loggers.log_dir import remote_file_system

    path = os.fspath(config_yaml)
    folder = os.path.dirname(path)
    fs = remote_file_system(path)  # a path with a protocol (s3://...) is written through fsspec
    if not (fs.isdir(folder) if fs is not None else os.path.isdir(folder or ".")):
        raise RuntimeError(f"Cannot write {path}: the folder {folder} does not exist.")
    opener: Any = fs.open if fs is not None else open
    if isinstance(hparams, Namespace):
        hparams = vars(hparams)
    elif isinstance(hparams, AttributeDict):
        hparams = dict(hparams)
    if use_omegaconf and _save_with_omegaconf(path, hparams, opener):
        return
    if not isinstance(hparams, dict):
        raise TypeError(f"hparams must be a dict or an argparse.Namespace, got {type(hparams).__name__}")

    writable = {}
    for key, value in hparams.items():
        value = value.name if isinstance(value, Enum) else value
        try:
            yaml.dump(value)
        except (TypeError, ValueError):
            warnings.warn(f"Leaving '{key}' out of {path}: its value cannot be written as YAML.", stacklevel=2)
            # Lightning replaces the value in the caller's dict as well; later saves then write the type name
            hparams[key] = type(value).__name__
        else:
            writable[key] = value
    with opener(path, "w", newline="", encoding="utf-8") as file:
        yaml.dump(writable, file)


def _save_with_omegaconf(path: str, hparams: Any, opener: Any = open) -> bool:
    """Write ``hparams`` with OmegaConf, nested configs resolved; False when omegaconf is missing or refuses a value."""
    from shim.utilities.imports import _OMEGACONF_AVAILABLE

    if not _OMEGACONF_AVAILABLE:
        return False
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import UnsupportedValueType, ValidationError

    from shim.utilities.apply_func import apply_to_collection

    # a copy: resolving interpolations must not change the caller's configs
    hparams = apply_to_collection(copy.deepcopy(hparams), DictConfig, OmegaConf.to_container, resolve=True)
    with opener(path, "w", encoding="utf-8") as file:
        try:
            OmegaConf.save(hparams, file)
        except (UnsupportedValueType, ValidationError):
            return False
    return True


def _convert_params(params: dict[str, Any] | Namespace | None) -> dict[str, Any]:
    """A namespace becomes its attribute dict (the same object, not a copy) and ``None`` an empty dict."""
    if isinstance(params, Namespace):
        return vars(params)
    if params is None:
        return {}
    return params


def _flatten_dict(params: MutableMapping[Any, Any], delimiter: str = "/", parent_key: str = "") -> dict[str, Any]:
    """Join nested keys with ``delimiter``: ``{"a": {"b": 1}}`` becomes ``{"a/b": 1}``.

    Dataclass instances and namespaces are opened like dicts, and a list made only of dicts is opened with the
    list index as a key level (``{"l": [{"x": 1}]}`` becomes ``{"l/0/x": 1}``). Other values are kept as they are.
    """
    flat: dict[str, Any] = {}
    for key, value in params.items():
        full_key = f"{parent_key}{delimiter}{key!s}" if parent_key else str(key)
        if is_dataclass(value) and not isinstance(value, type):
            value = asdict(value)
        elif isinstance(value, Namespace):
            value = vars(value)
        if isinstance(value, MutableMapping):
            flat.update(_flatten_dict(value, delimiter, full_key))
        elif isinstance(value, list) and all(isinstance(item, MutableMapping) for item in value):
            # the index level is always joined with "/", whatever the delimiter, as in Lightning
            for index, item in enumerate(value):
                flat.update(_flatten_dict(item, delimiter, f"{full_key}/{index}"))
        else:
            flat[full_key] = value
    return flat


def _sanitize_params(params: dict[str, Any]) -> dict[str, Any]:
    """Make every value something TensorBoard's hparams plugin accepts.

    Numpy scalars become Python numbers; anything that is not exactly a bool, int, float, str or tensor becomes
    its ``str()``, and so does a tensor with more than one dimension.
    """
    numpy = sys.modules.get("numpy")  # a numpy value can only exist once numpy has been imported
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if numpy is not None and isinstance(value, numpy.bool_ | numpy.integer | numpy.floating):
            value = value.item()
        if type(value) not in (bool, int, float, str, Tensor) or (isinstance(value, Tensor) and value.ndim > 1):
            value = str(value)
        clean[key] = value
    return clean
