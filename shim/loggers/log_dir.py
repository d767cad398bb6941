"""Where a logger writes: picking the next ``version_N`` and creating the log folder with errors that name the path.

A path with a protocol in front (``s3://bucket/logs``, ``memory://logs``) lives on that fsspec file system.
"""

import os
import re
from typing import Any

__all__ = ["VersionedFolder", "make_log_dir", "next_version", "remote_file_system", "version_folder"]

_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(://|::)")


def remote_file_system(path: str) -> Any:
    """The fsspec file system of a path with a protocol, or None for a plain local path.

    Raises:
        ValueError: If the path has a protocol and fsspec is not installed.
    """
    if not _PROTOCOL.match(path):
        return None
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ValueError(
            f"The log path {path!r} names a remote file system, which needs `pip install fsspec`."
        ) from None
    return url_to_fs(path)[0]


def next_version(root_dir: str) -> int:
    """One more than the highest ``version_N`` folder in ``root_dir``, or 0 when there is none."""
    fs = remote_file_system(root_dir)
    if fs is not None:
        if not fs.isdir(root_dir):
            return 0
        entries = [
            os.path.basename(str(e["name"]).rstrip("/"))
            for e in fs.ls(root_dir, detail=True)
            if e["type"] == "directory"
        ]
    elif not os.path.isdir(root_dir):
        return 0
    else:
        entries = [entry for entry in os.listdir(root_dir) if os.path.isdir(os.path.join(root_dir, entry))]
    versions = []
    for entry in entries:
        if not entry.startswith("version_"):
            continue
        # like Lightning, only the text between the first and second underscore counts ("version_3_old" is 3)
        number = entry.split("_")[1]
        if number.isdigit():
            versions.append(int(number))
    return max(versions) + 1 if versions else 0


def version_folder(version: int | str) -> str:
    """A string version is the folder name itself; an int ``N`` becomes ``version_N``."""
    return version if isinstance(version, str) else f"version_{version}"


def make_log_dir(path: str) -> None:
    """Create ``path`` and its parents; when a file is in the way, raise an error that names it.

    Raises:
        FileExistsError: ``path`` itself exists as a file.
        NotADirectoryError: One of the parents of ``path`` (``save_dir``, say) is a file.
    """
    if not path:  # the current directory
        return
    fs = remote_file_system(path)
    if fs is not None:
        fs.makedirs(path, exist_ok=True)
        return
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        blocker = _first_file_on(path)
        raise type(err)(
            f"Cannot create the log directory '{path}': '{blocker}' exists and is a file, not a directory."
            " Choose another `save_dir`, `name` or `version`, or move the file away."
        ) from err


def _first_file_on(path: str) -> str:
    """The outermost existing non-directory among ``path`` and its parents (``path`` itself when none is found)."""
    chain = [os.path.abspath(path)]
    while os.path.dirname(chain[-1]) != chain[-1]:
        chain.append(os.path.dirname(chain[-1]))
    for candidate in reversed(chain):
        if os.path.exists(candidate) and not os.path.isdir(candidate):
            return candidate
    return path


class VersionedFolder:
    """The ``save_dir/name/version`` folder of a file-writing logger: names, and the version picked on first use."""

    _save_dir: str
    _name: str
    _version: int | str | None

    @property
    def name(self) -> str:
        """The experiment name (``""`` when there is no name folder)."""
        return self._name

    @property
    def version(self) -> int | str:
        """The experiment version; the next free number is picked (once) when none was given."""
        if self._version is None:
            self._version = next_version(self.root_dir)
        return self._version

    @property
    def save_dir(self) -> str:
        """The folder all experiments are written under."""
        return self._save_dir

    @property
    def root_dir(self) -> str:
        """``save_dir/name``: the folder holding every version of this experiment."""
        return os.path.join(self.save_dir, self.name)
