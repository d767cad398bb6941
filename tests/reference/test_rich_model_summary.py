"""RichModelSummary's table against real Lightning's: the same layers, types, parameter counts and totals."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

import shim

pytest.importorskip("rich")


def _model(pkg: ModuleType) -> Any:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel

    class Model(boring):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Sequential(nn.Linear(64, 8), nn.LayerNorm(8)))
            self.head = nn.Linear(8, 1000)
            self.frozen = nn.Linear(3, 3).requires_grad_(False)
            self.frozen.eval()

    torch.manual_seed(0)
    return Model()


def _printed(pkg: ModuleType, max_depth: int, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> str:
    trainer = pkg.Trainer(
        default_root_dir=str(tmp_path),
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[pkg.callbacks.RichModelSummary(max_depth=max_depth)],
    )
    capsys.readouterr()
    trainer.fit(_model(pkg))
    return capsys.readouterr().out


def _rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in text.splitlines() if line.startswith("│")]


def _totals(text: str) -> dict[str, str]:
    labels = ("Trainable params", "Non-trainable params", "Total params", "Total estimated model params size (MB)",
              "Modules in train mode", "Modules in eval mode", "Total FLOPs")  # fmt: skip
    found = {}
    for line in text.splitlines():
        words = " ".join(line.replace(":", " ").split())  # Lightning writes "label: value", shim "value label"
        for label in labels:
            if words.startswith(label + " ") or words.endswith(" " + label):
                found[label] = words.removeprefix(label).removesuffix(label).strip()
    return found


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("max_depth", [1, 2, -1])
def test_rich_summary_table_matches_lightning(
    lightning: ModuleType, max_depth: int, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = _printed(shim, max_depth, tmp_path, capsys)
    theirs = _printed(lightning, max_depth, tmp_path, capsys)
    our_rows, their_rows = _rows(ours), _rows(theirs)
    assert our_rows
    assert our_rows == their_rows
    assert _totals(ours) == _totals(theirs)
    assert len(_totals(ours)) == 7
