"""shim's messages go to Lightning's logger names, so what users configure on those names applies to them."""

import logging
from collections.abc import Iterator

import pytest

from shim.utilities.rank_zero import get_logger, rank_zero_info


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    names = ["lightning.pytorch", "pytorch_lightning", "lightning.pytorch.utilities.rank_zero"]
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in names}
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("shim.callbacks.early_stopping", "lightning.pytorch.callbacks.early_stopping"),
        ("shim.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"),
        ("shim.utilities.seed", "lightning.fabric.utilities.seed"),
        ("shim", "lightning.pytorch"),
    ],
)
def test_logger_names_are_lightnings(module: str, expected: str) -> None:
    assert get_logger(module).name == expected


def test_caplog_on_lightning_name_sees_rank_zero_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.utilities.rank_zero"):
        rank_zero_info("hello from shim")
    assert [r.name for r in caplog.records] == ["lightning.pytorch.utilities.rank_zero"]
    assert caplog.records[0].getMessage() == "hello from shim"


@pytest.mark.usefixtures("restore_loggers")
@pytest.mark.parametrize("name", ["lightning.pytorch", "pytorch_lightning"])
def test_a_level_set_on_a_lightning_name_silences_info(name: str) -> None:
    recorder = _Recorder()
    logging.getLogger("lightning.pytorch").addHandler(recorder)
    rank_zero_info("first")
    logging.getLogger(name).setLevel(logging.ERROR)
    rank_zero_info("second")
    assert recorder.messages == ["first"]


@pytest.mark.usefixtures("restore_loggers")
def test_a_handler_on_the_standalone_name_receives_shims_messages() -> None:
    recorder = _Recorder()
    logging.getLogger("pytorch_lightning").addHandler(recorder)
    rank_zero_info("to the standalone package's handler")
    assert recorder.messages == ["to the standalone package's handler"]


@pytest.mark.usefixtures("restore_loggers")
def test_a_handler_below_a_non_propagating_standalone_logger_stops_there() -> None:
    outer, inner = _Recorder(), _Recorder()
    logging.getLogger("pytorch_lightning").addHandler(outer)
    child = logging.getLogger("pytorch_lightning.utilities")
    child.addHandler(inner)
    child.propagate = False
    try:
        rank_zero_info("once")
    finally:
        child.removeHandler(inner)
        child.propagate = True
    assert inner.messages == ["once"]
    assert outer.messages == []


def _run(code: str, **env: str) -> list[str]:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, check=True
    )
    return result.stdout.split()


def test_import_shim_does_not_import_lightning_utilities() -> None:
    assert _run("import sys, shim; print('lightning_utilities' in sys.modules)") == ["False"]


def test_rank_zero_only_is_lightning_utilities_decorator_with_its_rank_set() -> None:
    code = (
        "import shim\n"
        "from shim.utilities import rank_zero_only as ours\n"
        "from lightning_utilities.core.rank_zero import rank_zero_only as theirs\n"
        "print(ours is theirs, theirs.rank)\n"
    )
    assert _run(code, RANK="3") == ["True", "3"]


def test_lightning_utilities_imported_after_shim_gets_the_rank() -> None:
    # a user's own `@rank_zero_only` from lightning_utilities runs (or not) by the rank, instead of raising
    code = (
        "import shim\n"
        "from lightning_utilities.core.rank_zero import rank_zero_only\n"
        "@rank_zero_only\n"
        "def hello():\n"
        "    return 'hello'\n"
        "print(hello())\n"
    )
    assert _run(code, RANK="0") == ["hello"]
    assert _run(code, RANK="1") == ["None"]


def test_set_rank_reaches_both_decorators_and_shims_own_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_utilities.core.rank_zero import rank_zero_only as theirs

    from shim.utilities.rank_zero import _rank_zero_only, current_rank, set_rank

    monkeypatch.setattr(theirs, "rank", theirs.rank)
    monkeypatch.setattr(_rank_zero_only, "rank", _rank_zero_only.rank)
    set_rank(2)
    assert theirs.rank == _rank_zero_only.rank == current_rank() == 2
    # what a user sets on the public object is what shim's own decorators read
    theirs.rank = 0
    assert _rank_zero_only(lambda: "runs")() == "runs"
    theirs.rank = 1
    assert _rank_zero_only(lambda: "runs")() is None


def test_the_first_trainer_takes_lightning_utilities_decorator_and_leaves_imports_alone() -> None:
    # between `import shim` and the first Trainer a finder waits for lightning_utilities' import; the Trainer
    # imports it itself (rank set) and removes the finder, so a training run's imports pass no shim code
    code = (
        "import sys, shim\n"
        "from shim.utilities.rank_zero import _SetRankOnImport\n"
        "def hooked(): return any(isinstance(f, _SetRankOnImport) for f in sys.meta_path)\n"
        "print(hooked(), 'lightning_utilities' in sys.modules)\n"
        "shim.Trainer(logger=False)\n"
        "from lightning_utilities.core.rank_zero import rank_zero_only\n"
        "print(hooked(), rank_zero_only.rank)\n"
    )
    assert _run(code, RANK="2") == ["True", "False", "False", "2"]


def test_disable_possible_user_warnings() -> None:
    import warnings

    from shim.utilities import disable_possible_user_warnings
    from shim.utilities.warnings import PossibleUserWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        disable_possible_user_warnings()
        warnings.warn("maybe a mistake", PossibleUserWarning, stacklevel=1)
        warnings.warn("surely a mistake", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["surely a mistake"]
