"""The Trainer's callback list: the defaults it adds next to the user's callbacks, and what it says about them."""

import importlib
import logging
from types import ModuleType
from typing import Any

import pytest

import shim


def _build(pkg: ModuleType, caplog: pytest.LogCaptureFixture, **kwargs: Any) -> tuple[list[str], list[tuple[str, int]]]:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        trainer = pkg.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False, **kwargs)
    records = [(r.name, r.levelno) for r in caplog.records if "ModelSummary" in r.getMessage()]
    return [type(cb).__name__ for cb in trainer.callbacks], records


def test_a_given_model_summary_replaces_the_default_and_is_noted(
    lightning: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """As in Lightning: no second summary, and an INFO line on the rank-zero logger saying why."""
    results = []
    for pkg in (lightning, shim):
        summary = importlib.import_module(f"{pkg.__name__}.callbacks").ModelSummary(max_depth=2)
        callbacks, records = _build(pkg, caplog, callbacks=[summary], enable_model_summary=True)
        results.append((callbacks, [(name.rpartition(".")[2], level) for name, level in records]))
    assert results[1] == results[0] == (["ModelSummary"], [("rank_zero", logging.INFO)])


def test_no_note_without_a_given_summary(caplog: pytest.LogCaptureFixture) -> None:
    from shim.utilities.imports import rich_usable

    callbacks, records = _build(shim, caplog, enable_model_summary=True)
    # as in Lightning, the default summary is the rich one when rich is installed
    assert callbacks == ["RichModelSummary" if rich_usable() else "ModelSummary"]
    assert records == []
