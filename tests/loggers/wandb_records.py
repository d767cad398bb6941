"""Reading an offline W&B run back: the records of its ``run-<id>.wandb`` file, parsed with wandb's own protobufs.

An offline run keeps everything it logged (history rows, config, artifacts) in that one file. wandb ships the
record types (``wandb.proto.wandb_internal_pb2.Record``) but, since its core moved to Go, no Python reader of the
file's framing, which is LevelDB's log format: 32 KiB blocks of chunks, each with a 7-byte header (CRC, length,
type) and a record split over chunks when it crosses a block end. The file starts with a 7-byte W&B header.
"""

import json
import struct
import time
from pathlib import Path
from typing import Any

_BLOCK = 32 * 1024
_CHUNK_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    """Every record of a ``.wandb`` file, in the order written."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    found, pending, pos = [], b"", 7
    while pos + _CHUNK_HEADER <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _CHUNK_HEADER:  # the end of a block too short for a header is padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _CHUNK_HEADER])
        chunk = data[pos + _CHUNK_HEADER : pos + _CHUNK_HEADER + length]
        pos += _CHUNK_HEADER + length
        pending = chunk if kind in (_FULL, _FIRST) else pending + chunk
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
    return found


def run_file(save_dir: Path, run_id: str, timeout: float = 30.0) -> Path:
    """The ``.wandb`` file of the newest run folder with this id under ``save_dir/wandb``, once it is complete.

    ``run.finish()`` can return while W&B's core process is still writing the file, so this waits (up to
    ``timeout`` seconds) for the run's last record, the exit record.
    """
    candidates = sorted((save_dir / "wandb").glob(f"*-{run_id}*/run-{run_id}.wandb"), key=lambda p: p.stat().st_mtime)
    assert candidates, f"no run {run_id} under {save_dir}"
    path = candidates[-1]
    deadline = time.monotonic() + timeout
    while not any(record.WhichOneof("record_type") == "exit" for record in records(path)):
        assert time.monotonic() < deadline, f"{path} has no exit record {timeout} s after the run finished"
        time.sleep(0.05)
    return path


def _set(values: dict[str, Any], item: Any) -> None:
    """Store an item of a history or config record; a dict value comes split into one item per nested key."""
    keys = list(item.nested_key) or [item.key]
    for key in keys[:-1]:
        values = values.setdefault(key, {})
    values[keys[-1]] = json.loads(item.value_json)


def history(path: Path) -> list[dict[str, Any]]:
    """The rows logged with ``run.log``, without W&B's own ``_step``/``_runtime``/``_timestamp`` columns."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _set(row, item)
            rows.append({key: value for key, value in row.items() if not key.startswith("_")})
    return rows


def config(path: Path) -> dict[str, Any]:
    """The run's config as its updates leave it, without W&B's own ``_wandb`` entry."""
    values: dict[str, Any] = {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        updates = record.config.update if kind == "config" else record.run.config.update if kind == "run" else []
        for item in updates:
            _set(values, item)
    values.pop("_wandb", None)
    return values


def run_record(path: Path) -> Any:
    """The run's start record (id, project, display name)."""
    return next(record.run for record in records(path) if record.WhichOneof("record_type") == "run")


def artifacts(path: Path) -> list[Any]:
    """The artifact records, in the order they were logged."""
    return [record.artifact for record in records(path) if record.WhichOneof("record_type") == "artifact"]


# Environment for a W&B run that never reaches the network and keeps every file under the test's folder.
_OFFLINE_ENV = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_CONSOLE": "off",
    "WANDB_DISABLE_GIT": "true",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_X_DISABLE_STATS": "true",
    "WANDB_X_DISABLE_META": "true",
}
_FOLDERS = ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR")
_UNSET = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_ID", "WANDB_RESUME")


def offline_environment(root: Path) -> dict[str, str | None]:
    """The environment variables (``None``: unset) that keep W&B offline, silent and inside ``root``."""
    env: dict[str, str | None] = dict(_OFFLINE_ENV)
    env.update({name: str(root / name.lower()) for name in _FOLDERS})
    env.update(dict.fromkeys(_UNSET))
    return env
