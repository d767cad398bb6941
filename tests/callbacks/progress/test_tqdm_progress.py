"""TQDMProgressBar: its tqdm bars, the hooks to replace them, refresh rates, printing and pickling."""

import io
import pickle
from contextlib import redirect_stdout
from typing import Any

import pytest

import shim
from shim.callbacks import TQDMProgressBar
from shim.callbacks.progress.tqdm_progress import Tqdm, convert_inf
from shim.demos.boring_classes import BoringModel


def _trainer(tmp_path: Any, bar: TQDMProgressBar, **kwargs: Any) -> shim.Trainer:
    options: dict[str, Any] = {
        "default_root_dir": tmp_path,
        "max_epochs": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "callbacks": [bar],
    }
    return shim.Trainer(**{**options, **kwargs})


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1, "1"), (1.0, "1.000"), (0.1, "0.100"), (0.001, "0.001"), (1e-5, "1e-5"), ("10000", "10000"), ("abc", "abc"),
     ("2", "2.000"), (10000, "1e+4"), (123456.0, "1.23e+5")],
)  # fmt: skip
def test_format_num_keeps_float_widths(value: Any, shown: str) -> None:
    assert Tqdm.format_num(value) == shown


def test_convert_inf() -> None:
    assert [convert_inf(x) for x in (None, float("inf"), float("nan"), 3)] == [None, None, None, 3]


def test_init_hooks_make_the_bars_and_the_bars_stay_after_their_stage(tmp_path: Any) -> None:
    made: list[str] = []

    class Custom(TQDMProgressBar):
        def init_train_tqdm(self) -> Tqdm:
            made.append("train")
            bar = super().init_train_tqdm()
            bar.set_postfix_str("custom")
            return bar

        def init_validation_tqdm(self) -> Tqdm:
            made.append("val")
            return super().init_validation_tqdm()

    bar = Custom(leave=True)
    trainer = _trainer(tmp_path, bar, max_epochs=2, limit_train_batches=3, limit_val_batches=2)
    with redirect_stdout(io.StringIO()):
        trainer.fit(BoringModel())
    # one training bar at the start and a fresh one per epoch with leave=True; a validation bar per validation
    assert made == ["train", "train", "val", "train", "val"]
    assert (bar.train_progress_bar.n, bar.train_progress_bar.total) == (3, 3)
    assert (bar.val_progress_bar.n, bar.val_progress_bar.total) == (2, 2)
    assert bar.train_progress_bar.disable  # closed: tqdm disables a bar it closed


def test_refresh_rate_moves_the_count_every_n_batches_and_on_the_last(tmp_path: Any) -> None:
    seen: list[int] = []

    class Watch(shim.Callback):
        def on_train_batch_end(self, *args: Any) -> None:
            seen.append(bar.train_progress_bar.n)

    bar = TQDMProgressBar(refresh_rate=3)
    trainer = _trainer(tmp_path, bar, limit_train_batches=7, limit_val_batches=0)
    trainer.callbacks.append(Watch())
    with redirect_stdout(io.StringIO()):
        trainer.fit(BoringModel())
    assert seen == [0, 0, 3, 3, 3, 6, 7]


def test_refresh_rate_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TQDM_MINITERS", "5")
    assert (TQDMProgressBar(refresh_rate=1).refresh_rate, TQDMProgressBar(refresh_rate=9).refresh_rate) == (5, 9)
    monkeypatch.delenv("TQDM_MINITERS")
    monkeypatch.setenv("COLAB_GPU", "1")
    assert (TQDMProgressBar().refresh_rate, TQDMProgressBar(refresh_rate=3).refresh_rate) == (20, 3)


def test_print_goes_above_the_running_bar(tmp_path: Any) -> None:
    class Printing(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.print("hello from step", batch_idx)
            return super().training_step(batch, batch_idx)

    bar = TQDMProgressBar()
    out = io.StringIO()
    with redirect_stdout(out):
        _trainer(tmp_path, bar, limit_train_batches=2, limit_val_batches=0).fit(Printing())
    lines = [line.split("\r")[-1] for line in out.getvalue().split("\n")]
    assert "hello from step 0" in lines
    assert "hello from step 1" in lines


def test_the_bar_pickles_after_a_run(tmp_path: Any) -> None:
    bar = TQDMProgressBar()
    with redirect_stdout(io.StringIO()):
        _trainer(tmp_path, bar, limit_train_batches=1, limit_val_batches=1).fit(BoringModel())
    copy = pickle.loads(pickle.dumps(bar))
    assert copy.train_progress_bar is None
    assert copy.refresh_rate == bar.refresh_rate
