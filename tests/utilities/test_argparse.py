"""Command lines parse as Lightning 1.9 parsed them, and build the Trainer they describe."""

import argparse
import os
from typing import Any

import pytest

import shim
from shim.demos.boring_classes import BoringDataModule

# (command line, the values Lightning 1.9.5's Trainer.add_argparse_args parser produced for it)
LIGHTNING_19_PARSES: list[tuple[list[str], dict[str, Any]]] = [
    (["--max_epochs", "3"], {"max_epochs": 3}),
    (["--limit_train_batches", "10"], {"limit_train_batches": 10}),
    (["--limit_train_batches", "0.25"], {"limit_train_batches": 0.25}),
    (["--val_check_interval", "100"], {"val_check_interval": 100}),
    (["--val_check_interval", "0.5"], {"val_check_interval": 0.5}),
    (["--fast_dev_run"], {"fast_dev_run": True}),
    (["--fast_dev_run", "5"], {"fast_dev_run": 5}),
    (["--fast_dev_run", "False"], {"fast_dev_run": False}),
    (["--enable_progress_bar", "false"], {"enable_progress_bar": False}),
    (["--enable_checkpointing"], {"enable_checkpointing": True}),
    (["--enable_checkpointing", "no"], {"enable_checkpointing": False}),
    (["--devices", "2"], {"devices": "2"}),
    (["--devices", "0,1"], {"devices": "0,1"}),
    (["--devices", "-1"], {"devices": "-1"}),
    (["--devices", "auto"], {"devices": "auto"}),
    (["--gpus", "2"], {"gpus": 2}),
    (["--gpus", "0,1"], {"gpus": "0,1"}),
    (["--precision", "16"], {"precision": 16}),
    (["--precision", "bf16"], {"precision": "bf16"}),
    (["--accumulate_grad_batches", "4"], {"accumulate_grad_batches": 4}),
    (["--logger", "False"], {"logger": False}),
    (["--gradient_clip_val", "0.5"], {"gradient_clip_val": 0.5}),
    (["--gradient_clip_algorithm", "value"], {"gradient_clip_algorithm": "value"}),
    (["--check_val_every_n_epoch", "10"], {"check_val_every_n_epoch": 10}),
    (["--num_sanity_val_steps", "0"], {"num_sanity_val_steps": 0}),
    (["--overfit_batches", "0.1"], {"overfit_batches": 0.1}),
    (["--track_grad_norm", "2"], {"track_grad_norm": 2.0}),
    (["--auto_lr_find"], {"auto_lr_find": True}),
    (["--auto_scale_batch_size", "binsearch"], {"auto_scale_batch_size": "binsearch"}),
    (["--benchmark", "true"], {"benchmark": True}),
    (["--max_time", "00:00:10:00"], {"max_time": "00:00:10:00"}),
    (["--default_root_dir", "/tmp/x"], {"default_root_dir": "/tmp/x"}),
    (["--accelerator", "cpu"], {"accelerator": "cpu"}),
    (["--strategy", "ddp"], {"strategy": "ddp"}),
]


def _parser(**kwargs: Any) -> argparse.ArgumentParser:
    return shim.Trainer.add_argparse_args(argparse.ArgumentParser(prog="train.py"), **kwargs)


@pytest.mark.parametrize(
    ("line", "expected"), LIGHTNING_19_PARSES, ids=lambda x: " ".join(x) if isinstance(x, list) else ""
)
def test_parses_as_lightning_19(line: list[str], expected: dict[str, Any]) -> None:
    args = _parser().parse_args(line)
    assert {name: getattr(args, name) for name in expected} == expected


def test_a_duration_val_check_interval_reads_as_text() -> None:
    # shim's Trainer also takes Lightning 2.x's time-based interval; a number still reads as in 1.9
    args = _parser().parse_args(["--val_check_interval", "00:00:10:00"])
    assert args.val_check_interval == "00:00:10:00"
    trainer = shim.Trainer.from_argparse_args(args, logger=False)
    assert trainer._config.val_check_seconds == 600.0


def test_defaults_equal_the_constructor_defaults() -> None:
    args = _parser().parse_args([])
    defaults = shim.Trainer.default_attributes()
    assert vars(args) == {k: defaults[k] for k in vars(args)}
    assert "callbacks" not in vars(args)  # objects cannot come from a command line


def test_without_argument_group_returns_a_new_parser() -> None:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--lr", type=float, default=0.1)
    parser = shim.Trainer.add_argparse_args(parent, use_argument_group=False)
    assert parser is not parent
    args = parser.parse_args(["--lr", "0.5", "--max_epochs", "2"])
    assert (args.lr, args.max_epochs) == (0.5, 2)


def test_the_seed_script(tmp_path: Any) -> None:
    parser = argparse.ArgumentParser()
    parser = shim.Trainer.add_argparse_args(parser)
    args = parser.parse_args(
        ["--max_epochs", "2", "--limit_train_batches", "3", "--limit_val_batches", "0.5", "--enable_progress_bar", "0",
         "--default_root_dir", str(tmp_path), "--logger", "false"]
    )  # fmt: skip
    trainer = shim.Trainer.from_argparse_args(args, enable_model_summary=False)
    assert (trainer.max_epochs, trainer.limit_train_batches, trainer.limit_val_batches) == (2, 3, 0.5)
    assert trainer.loggers == []
    from shim.demos.boring_classes import BoringModel

    trainer.fit(BoringModel())
    assert trainer.global_step == 6


def test_from_argparse_args_ignores_other_names_and_kwargs_win() -> None:
    namespace = argparse.Namespace(max_epochs=5, learning_rate=0.1, enable_progress_bar=False)
    trainer = shim.Trainer.from_argparse_args(namespace, max_epochs=7)
    assert trainer.max_epochs == 7
    trainer = shim.Trainer.from_argparse_args({"max_epochs": 4})
    assert trainer.max_epochs == 4


def test_parse_argparser_turns_text_booleans_into_booleans() -> None:
    parsed = shim.Trainer.parse_argparser(argparse.Namespace(benchmark="True", max_epochs=3))
    assert parsed.benchmark is True


def test_environment_variables_set_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PL_TRAINER_MAX_EPOCHS", "3")
    monkeypatch.setenv("PL_TRAINER_ENABLE_PROGRESS_BAR", "False")
    assert _parser().parse_args([]).max_epochs == 3
    trainer = shim.Trainer()
    assert trainer.max_epochs == 3
    assert trainer.progress_bar_callback is None
    assert shim.Trainer(max_epochs=9).max_epochs == 9  # explicit values win


def test_datamodule_argparse() -> None:
    class DataModule(BoringDataModule):
        def __init__(self, batch_size: int = 8, data_dir: str = "./data", shuffle: bool = True) -> None:
            super().__init__()
            self.batch_size = batch_size
            self.data_dir = data_dir
            self.shuffle = shuffle

    parser = DataModule.add_argparse_args(argparse.ArgumentParser())
    args = parser.parse_args(["--batch_size", "32", "--shuffle", "no"])
    datamodule = DataModule.from_argparse_args(args, data_dir="/tmp")
    assert (datamodule.batch_size, datamodule.data_dir, datamodule.shuffle) == (32, "/tmp", False)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (["--max_epochs", "abc"], "argument --max_epochs: invalid int value: 'abc'"),
        (["--precision", "17"], "argument --precision: invalid precision '17'"),
        (["--devices", "-3"], "argument --devices: invalid devices value '-3'"),
        (
            ["--accumulate_grad_batches", "0"],
            "argument --accumulate_grad_batches: invalid value '0': must be an int >= 1",
        ),
        (["--enable_progress_bar", "maybe"], "argument --enable_progress_bar: invalid str_to_bool value: 'maybe'"),
    ],
)
def test_bad_command_lines_exit_2_with_usage(line: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(line)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: train.py")
    assert message in err


def test_amp_level_with_native_backend() -> None:
    from shim.utilities.exceptions import MisconfigurationException

    with pytest.raises(MisconfigurationException, match="amp_level='O2'.*only works with `amp_backend='apex'`"):
        shim.Trainer(amp_backend="native", amp_level="O2")
    with pytest.raises(MisconfigurationException, match="apex.*precision='16-mixed'"):
        shim.Trainer(amp_backend="apex")
    assert os.environ.get("PL_TRAINER_MAX_EPOCHS") is None
