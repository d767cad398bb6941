"""What a person sees of a fit in a real terminal (tmux): each bar redraws in place, no line per refresh."""

import re
from pathlib import Path

import pytest

from tests.callbacks.progress.terminal import FIT_SCRIPT, Screens, needs_tmux, run_in_tmux

pytestmark = needs_tmux

_STOP = "`Trainer.fit` stopped: `max_epochs=3` reached."


def _fit(kind: str, leave: bool, tmp_path: Path) -> Screens:
    if kind == "rich":
        pytest.importorskip("rich")
    screens = run_in_tmux(FIT_SCRIPT, [kind, "leave" if leave else "keep"], tmp_path)
    assert screens.final[-1] == "FIT DONE", "\n".join(screens.final)
    return screens


def _assert_no_glitches(screens: Screens) -> None:
    """Log lines stand on their own lines; no bar line is glued to another or to a message."""
    for screen in [*screens.during, screens.final]:
        for line in screen:
            assert line.count("Epoch ") <= 1, line
            assert line.count("Validation") <= 1, line
            assert "Trainer.fit" not in line or line == _STOP, line
            # at most one validation bar is on screen at any time, never a trail of them
            assert len([x for x in screen if x.startswith("Validation")]) <= 1, "\n".join(screen)
    assert screens.final.count(_STOP) == 1


@needs_tmux
@pytest.mark.parametrize("kind", ["rich", "tqdm"])
def test_leave_shows_one_line_per_epoch(kind: str, tmp_path: Path) -> None:
    screens = _fit(kind, True, tmp_path)
    _assert_no_glitches(screens)
    epochs = screens.lines_starting("Epoch ")
    assert len(epochs) == 3, "\n".join(screens.final)
    for number, line in enumerate(epochs):
        assert line.startswith(f"Epoch {number}/2 " if kind == "rich" else f"Epoch {number}: 100%"), line
        assert "20/20" in line, line
        assert re.search(r"tl: 0\.500$|tl=0\.500\]$", line), line
    assert not screens.lines_starting("Validation")
    assert not screens.lines_starting("Sanity")
    if kind == "rich":
        # RichModelSummary draws its table above the bars
        rows = [line for line in screens.final if line.startswith("│")]
        assert [cell.strip() for cell in rows[0].strip("│").split("│")] == ["0", "layer", "Linear", "66", "train", "0"]
        assert screens.final.index(rows[0]) < screens.final.index(epochs[0])


@needs_tmux
@pytest.mark.parametrize("kind", ["rich", "tqdm"])
def test_without_leave_one_training_line_is_redrawn_through_validation(kind: str, tmp_path: Path) -> None:
    screens = _fit(kind, False, tmp_path)
    _assert_no_glitches(screens)
    # while it ran, validation (three times per epoch) never added training lines: there was only ever one
    assert max(len(screens.lines_starting("Epoch ", screen)) for screen in screens.during) == 1
    assert any(screens.lines_starting("Validation", screen) for screen in screens.during)
    [last] = screens.lines_starting("Epoch ")
    assert last.startswith("Epoch 2/2 " if kind == "rich" else "Epoch 2: 100%"), last
    assert "20/20" in last, last
    assert not screens.lines_starting("Validation")
    assert not screens.lines_starting("Sanity")
    # the stop reason is printed above the bar, not glued to it
    assert screens.final.index(_STOP) < screens.final.index(last)
