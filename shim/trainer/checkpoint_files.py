"""Checkpoint files: atomic writes, and reads from a path, an ``http(s)`` URL or an open file.

Paths with a protocol (``s3://bucket/run/x.ckpt``) go through fsspec when it is installed.

Reads go through ``torch.load`` with the ``weights_only`` the caller gave. ``None`` leaves the choice to torch, whose
default is its safe loader (tensors and primitive types only) and which honours torch's own switches such as
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``. A safe load also accepts the few types shim itself writes (``SAFE_GLOBALS``).
A file that cannot be read raises the error class torch raises for it, as Lightning lets it through, with a message
that names the file.
"""

import argparse
import io
import os
import pickle
import re
import tempfile
from collections.abc import Mapping
from typing import IO, Any, NoReturn

import torch

from shim.utilities.parsing import AttributeDict

__all__ = [
    "SAFE_GLOBALS",
    "checkpoint_exists",
    "is_local_path",
    "load_checkpoint_file",
    "remove_checkpoint_file",
    "save_checkpoint_file",
]

# types besides tensors and primitives that our own checkpoints may contain, allowed in a safe load
SAFE_GLOBALS: list[Any] = [AttributeDict, argparse.Namespace]

# "s3://bucket/x", "memory://x", "simplecache::s3://x": a path with a protocol in front
_PROTOCOL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)(://|::)")


def is_local_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names the local file system: no protocol in front, or ``file://``."""
    match = _PROTOCOL.match(os.fspath(path))
    return match is None or match.group(1) == "file"


def _is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


# ----------------------------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------------------------
def save_checkpoint_file(checkpoint: dict[str, Any], filepath: str | os.PathLike) -> None:
    """Write ``checkpoint`` to ``filepath`` through a temporary file, so a crash never leaves half a file.

    A path with a protocol (``s3://...``) is written through fsspec, in one transaction.
    """
    path = os.fspath(filepath)
    if not is_local_path(path):
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        fs, remote = _remote_file_system(path)
        with fs.transaction, fs.open(remote, "wb") as f:
            f.write(buffer.getvalue())
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # the temporary name does not end in .ckpt, so a leftover is never taken for a checkpoint
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".ckpt.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_checkpoint_file(filepath: str | os.PathLike) -> None:
    """Delete a checkpoint file or link (a folder too, as a sharded checkpoint is one); a missing one is fine."""
    import shutil

    path = os.fspath(filepath)
    if not is_local_path(path):
        fs, remote = _remote_file_system(path)
        if fs.exists(remote):
            fs.rm(remote, recursive=True)
    elif os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def checkpoint_exists(filepath: str | os.PathLike) -> bool:
    """Whether ``filepath`` exists, on the local file system or (for a path with a protocol) through fsspec."""
    path = os.fspath(filepath)
    if is_local_path(path):
        return os.path.exists(path)
    fs, remote = _remote_file_system(path)
    return bool(fs.exists(remote))


def _remote_file_system(path: str) -> tuple[Any, str]:
    """fsspec's file system for ``path`` and the path within it.

    Raises:
        ValueError: If fsspec is not installed.
    """
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ValueError(
            f"Checkpoint path {path!r} names a remote file system; that needs the `fsspec` package (`pip install"
            " fsspec` and the one for that storage). Local paths, and http(s) URLs for reading, work without it."
        ) from None
    return url_to_fs(path)


# ----------------------------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------------------------
def load_checkpoint_file(
    source: str | os.PathLike | IO[bytes], map_location: Any = None, weights_only: bool | None = None
) -> dict[str, Any]:
    """Load a checkpoint dict from a local path, an ``http(s)`` URL (through torch.hub's cache) or an open file.

    Args:
        source: Where the checkpoint is.
        map_location: Passed to ``torch.load``.
        weights_only: ``True`` loads only tensors and primitive types (plus ``SAFE_GLOBALS``), ``False`` unpickles
            anything (only for files you trust), ``None`` lets torch decide: safe, unless torch's
            ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment variable says otherwise.

    Raises:
        FileNotFoundError: If a local ``source`` does not exist.
        IsADirectoryError: If a local ``source`` is a folder.
        pickle.UnpicklingError: If the safe loader refuses an object in the file (nothing was executed), or the file
            is not a pickle or zip archive that ``torch.save`` wrote.
        RuntimeError, EOFError: As torch raises them for a truncated or empty file.
        ValueError: If the file loads but is not a checkpoint (no ``state_dict``).
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if is_local_path(name):
            if not os.path.exists(name):
                raise FileNotFoundError(f"Checkpoint file not found: {name}")
            if os.path.isdir(name):
                raise IsADirectoryError(f"Checkpoint path {name} is a directory, not a checkpoint file")
    else:
        name = repr(source)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            checkpoint = _torch_load(source, map_location, weights_only)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" in str(error) and _is_torch_archive(source):
            raise pickle.UnpicklingError(
                f"Checkpoint {name} holds objects that a safe load refuses: {_first_line(error)}. Nothing was"
                " executed. If you trust this file, load it with `weights_only=False` (for example"
                " `Model.load_from_checkpoint(path, weights_only=False)` or `trainer.fit(..., weights_only=False)`)."
            ) from None
        _raise_naming_file(error, f"Checkpoint {name} is not a file written by `torch.save`")
    except Exception as error:  # torch raises many types for damaged files (RuntimeError, EOFError, ...)
        _raise_naming_file(error, f"Checkpoint {name} cannot be read; it is empty, truncated or corrupted")
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ValueError(f"{name} is not a Lightning checkpoint: it has no 'state_dict' entry (found {found})")
    return dict(checkpoint)


def _torch_load(source: str | os.PathLike | IO[bytes], map_location: Any, weights_only: bool | None) -> Any:
    if not isinstance(source, (str, os.PathLike)):
        return torch.load(source, map_location=map_location, weights_only=weights_only)
    path = os.fspath(source)
    if _is_url(path):
        return torch.hub.load_state_dict_from_url(
            path,
            map_location=map_location,
            weights_only=weights_only,  # type: ignore[arg-type]  # None passes on to torch.load: its default
        )
    with _open_for_reading(path) as f:
        return torch.load(f, map_location=map_location, weights_only=weights_only)


def _open_for_reading(path: str) -> Any:
    if is_local_path(path):
        return open(path, "rb")  # noqa: SIM115 - the caller's `with` closes it
    fs, remote = _remote_file_system(path)
    return fs.open(remote, "rb")


def _is_torch_archive(source: str | os.PathLike | IO[bytes]) -> bool:
    """Whether ``source`` is the zip archive ``torch.save`` writes (so a refusal is about its contents)."""
    import zipfile

    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return _is_url(path) or zipfile.is_zipfile(path)
    try:
        source.seek(0)
        return zipfile.is_zipfile(source)
    except (AttributeError, OSError):
        return False


def _raise_naming_file(error: Exception, message: str) -> NoReturn:
    """Raise ``error`` again as the same class, its message saying which file it is about."""
    try:
        clearer = type(error)(f"{message}: {_first_line(error)}")
    except Exception:  # a class whose constructor takes other arguments: keep torch's error as it is
        raise error from None
    raise clearer from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
