"""``lightning_fabric.utilities.cloud_io``: reading files by path or URL, on any fsspec file system.

``get_filesystem("s3://bucket/x")`` gives the fsspec file system of a path (the local one for a plain path);
``_load`` reads what ``torch.save`` wrote from a path, a URL or an open file.
"""

import os
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["_load", "get_filesystem"]


def get_filesystem(path: str | Path, **kwargs: Any) -> Any:
    """The fsspec file system ``path`` lives on; ``kwargs`` go to fsspec (credentials, say)."""
    from fsspec.core import url_to_fs

    fs, _ = url_to_fs(str(path), **kwargs)
    return fs


def _load(path_or_url: IO[bytes] | str | Path, map_location: Any = None, weights_only: bool | None = None) -> Any:
    """``torch.load`` from an open file, an ``http(s)`` URL (through torch.hub's cache) or a path on any file system.

    ``weights_only=None`` lets torch choose (its safe loader, unless the user's environment switches it off); for a
    URL it means ``False``, as Lightning does, since torch.hub's loader has no such default.
    """
    if not isinstance(path_or_url, (str, os.PathLike)):
        return torch.load(path_or_url, map_location=map_location, weights_only=weights_only)
    path = os.fspath(path_or_url)
    if path.startswith(("http://", "https://")):
        return torch.hub.load_state_dict_from_url(
            path, map_location=map_location, weights_only=False if weights_only is None else weights_only
        )
    with get_filesystem(path).open(path, "rb") as f:
        return torch.load(f, map_location=map_location, weights_only=weights_only)
