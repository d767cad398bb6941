"""RichModelSummary: the layer table and the totals drawn with ``rich``; ModelSummary's ``summarize`` hook."""

import logging
from typing import Any

import pytest
from torch import nn

import shim
from shim.callbacks import ModelSummary, RichModelSummary
from shim.demos.boring_classes import BoringModel
from shim.utilities.model_summary import summarize

pytest.importorskip("rich")


class Nested(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(32, 16), nn.ReLU())
        self.frozen = nn.Linear(4, 4).requires_grad_(False)


def _fit(callback: ModelSummary, tmp_path: Any) -> None:
    trainer = shim.Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[callback],
    )
    trainer.fit(Nested())


def _table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in text.splitlines() if line.startswith("│")]


def test_rich_summary_prints_the_layers_and_totals(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _fit(RichModelSummary(max_depth=2), tmp_path)
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert [row[1:4] for row in rows] == [
        ["layer", "Linear", "66"],
        ["encoder", "Sequential", "528"],
        ["encoder.0", "Linear", "528"],
        ["encoder.1", "ReLU", "0"],
        ["frozen", "Linear", "20"],
    ]
    assert [row[0] for row in rows] == ["0", "1", "2", "3", "4"]
    for total in ("594 Trainable params", "20 Non-trainable params", "614 Total params", "5 Modules in train mode"):
        assert total in " ".join(out.split()), out


def test_rich_summary_max_depth_zero_prints_nothing(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _fit(RichModelSummary(max_depth=0), tmp_path)
    assert "Trainable params" not in capsys.readouterr().out


def test_rich_summary_model_size_uses_thousands_separators(capsys: pytest.CaptureFixture[str]) -> None:
    summary = summarize(BoringModel())
    RichModelSummary.summarize(summary.rows(), 1, 1, 5500.0, summary.total_training_modes, 1, header_style="bold")
    out = capsys.readouterr().out
    assert "5,500.000" in out
    assert "5.5 K" not in out


def test_model_summary_summarize_hook_receives_the_table_and_totals(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[Any, ...]] = []

    class Recording(ModelSummary):
        @staticmethod
        def summarize(*args: Any, **kwargs: Any) -> None:
            calls.append((*args, kwargs))

    _fit(Recording(max_depth=1, extra="x"), tmp_path)
    [(data, total, trainable, size, modes, kwargs)] = calls  # total_flops comes by name, as Lightning passes it
    assert [header for header, _ in data] == [" ", "Name", "Type", "Params", "Mode", "FLOPs"]
    assert dict(data)["Name"] == ["layer", "encoder", "frozen"]
    assert (total, trainable, modes, kwargs) == (614, 594, {"train": 5, "eval": 0}, {"total_flops": 0, "extra": "x"})
    assert size == pytest.approx(614 * 4e-6)
    with caplog.at_level(logging.INFO):
        _fit(ModelSummary(max_depth=1), tmp_path)
    assert "614       Total params" in caplog.text
