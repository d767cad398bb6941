"""The checkpoint scan that model-uploading loggers use, and the TensorBoard availability flags."""

import os
from types import SimpleNamespace
from typing import Any

from shim.loggers.tensorboard import _TENSORBOARD_AVAILABLE, _TENSORBOARDX_AVAILABLE
from shim.loggers.utilities import _scan_checkpoints


def _touch(path: Any, mtime: float) -> str:
    path.write_text("")
    os.utime(path, (mtime, mtime))
    return str(path)


def test_scan_checkpoints_lists_unsent_files_oldest_first(tmp_path: Any) -> None:
    best = _touch(tmp_path / "best.ckpt", 200.0)
    other = _touch(tmp_path / "other.ckpt", 100.0)
    last = _touch(tmp_path / "last.ckpt", 300.0)
    callback = SimpleNamespace(
        last_model_path=last,
        current_score=0.5,
        best_model_path=best,
        best_model_score=0.1,
        best_k_models={best: 0.1, other: 0.3, str(tmp_path / "gone.ckpt"): 0.9},
    )
    # best is also a top-k model: the top-k entry, read last, gives its tag
    assert _scan_checkpoints(callback, {}) == [
        (100.0, other, 0.3, "best_k"),
        (200.0, best, 0.1, "best_k"),
        (300.0, last, 0.5, "latest"),
    ]
    # sent files are left out until they change
    assert _scan_checkpoints(callback, {other: 100.0, best: 150.0, last: 300.0}) == [(200.0, best, 0.1, "best_k")]


def test_tensorboard_flags_say_what_is_installed() -> None:
    import importlib.util

    assert bool(_TENSORBOARD_AVAILABLE) is (importlib.util.find_spec("tensorboard") is not None)
    assert bool(_TENSORBOARDX_AVAILABLE) is (importlib.util.find_spec("tensorboardX") is not None)
