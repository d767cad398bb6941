"""Building a module or datamodule from a checkpoint: hyper-parameters in, overrides on top, weights loaded."""

import inspect
import os
from typing import IO, Any, TypeVar

import torch

from shim.trainer.checkpoint_files import load_checkpoint_file
from shim.trainer.checkpointing import check_state_dict
from shim.utilities.rank_zero import rank_zero_warn

__all__ = ["load_from_checkpoint", "load_hparams_from_yaml", "save_hparams_to_yaml"]

T = TypeVar("T")


def load_hparams_from_yaml(config_yaml: str | os.PathLike, use_omegaconf: bool = True) -> dict[str, Any]:
    """Read hyper-parameters from a YAML file; a missing file gives ``{}`` with a warning."""
    import yaml

    path = os.fspath(config_yaml)
    if not os.path.isfile(path):
        rank_zero_warn(f"Missing hyper-parameter file {path}: no hyper-parameters were read from it.")
        return {}
    with open(path) as f:
        loaded = yaml.full_load(f)
    return dict(loaded or {})


def save_hparams_to_yaml(config_yaml: str | os.PathLike, hparams: Any, use_omegaconf: bool = True) -> None:
    """Write hyper-parameters to a YAML file, as the loggers write ``hparams.yaml``."""
    from shim.loggers.hparams import save_hparams_to_yaml as save

    save(config_yaml, hparams)


def _init_parameters(cls: type) -> tuple[list[str], bool]:
    """The named parameters of ``cls.__init__`` (without self, *args, **kwargs) and whether it takes ``**kwargs``."""
    params = list(inspect.signature(cls).parameters.values())
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
    return names, takes_kwargs


def _instantiate(cls: type[T], checkpoint: dict[str, Any], overrides: dict[str, Any]) -> T:
    saved = {**(checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_KEY) or {}), **overrides}  # type: ignore[attr-defined]
    names, takes_kwargs = _init_parameters(cls)
    hparams_name = checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_NAME)  # type: ignore[attr-defined]
    # saved with save_hyperparameters(some_dict): the dict goes back in under its argument's name
    kwargs = {hparams_name: saved, **overrides} if hparams_name and hparams_name in names else saved
    if not takes_kwargs:
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
        if extension not in ("yml", "yaml"):
            raise ValueError(f"hparams_file={os.fspath(hparams_file)!r}: a .yml or .yaml file is required")
        checkpoint[cls.CHECKPOINT_HYPER_PARAMS_KEY] = load_hparams_from_yaml(hparams_file)  # type: ignore[attr-defined]
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
