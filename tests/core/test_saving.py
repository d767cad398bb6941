"""Hyper-parameter files (hparams.yaml, meta_tags.csv) and the hyper-parameters load_from_checkpoint builds with."""

import os
from argparse import Namespace
from typing import Any

import pytest
import torch

from shim.core.saving import (
    CHECKPOINT_PAST_HPARAMS_KEYS,
    convert,
    load_hparams_from_tags_csv,
    load_hparams_from_yaml,
    save_hparams_to_tags_csv,
    save_hparams_to_yaml,
    update_hparams,
)
from shim.demos.boring_classes import BoringModel
from shim.utilities.parsing import AttributeDict


def test_tags_csv_round_trip(tmp_path: Any) -> None:
    path = tmp_path / "meta_tags.csv"
    save_hparams_to_tags_csv(path, Namespace(batch_size=32, lr=0.008, name="adam", flag=True, layers=[1, 2]))
    assert path.read_bytes() == (
        b'key,value\r\nbatch_size,32\r\nlr,0.008\r\nname,adam\r\nflag,True\r\nlayers,"[1, 2]"\r\n'
    )
    assert load_hparams_from_tags_csv(path) == {"batch_size": 32, "lr": 0.008, "name": "adam", "flag": True,
                                                "layers": [1, 2]}  # fmt: skip


def test_missing_files_warn_and_give_nothing(tmp_path: Any) -> None:
    with pytest.warns(RuntimeWarning, match="none.csv"):
        assert load_hparams_from_tags_csv(tmp_path / "none.csv") == {}
    with pytest.warns(RuntimeWarning, match="none.yaml"):
        assert load_hparams_from_yaml(tmp_path / "none.yaml") == {}


@pytest.mark.parametrize("save", [save_hparams_to_tags_csv, save_hparams_to_yaml])
def test_saving_into_a_missing_folder_raises(save: Any, tmp_path: Any) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        save(os.path.join(tmp_path, "missing", "file"), {"a": 1})


def test_convert_reads_literals_and_keeps_other_text() -> None:
    assert [convert(v) for v in ["3", "0.5", "True", "None", "[1]", "adam", "1e-3x"]] == [3, 0.5, True, None, [1],
                                                                                        "adam", "1e-3x"]  # fmt: skip


def test_update_hparams_merges_nested_dicts() -> None:
    hparams = {"c": 4, "a": {"b": 1, "keep": 0}}
    update_hparams(hparams, {"a": {"b": 2}, "c": 1, "new": {"x": 1}})
    assert hparams == {"c": 1, "a": {"b": 2, "keep": 0}, "new": {"x": 1}}


def test_yaml_without_omegaconf_is_a_plain_dict(tmp_path: Any) -> None:
    path = tmp_path / "hparams.yaml"
    save_hparams_to_yaml(path, AttributeDict(b=2, a={"x": 1}))
    loaded = load_hparams_from_yaml(path, use_omegaconf=False)
    assert type(loaded) is dict
    assert loaded == {"a": {"x": 1}, "b": 2}


def test_yaml_with_omegaconf_resolves_and_loads_a_config(tmp_path: Any) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    path = tmp_path / "hparams.yaml"
    config = omegaconf.OmegaConf.create({"base": 3, "derived": "${base}", "nested": {"x": [1, 2]}})
    save_hparams_to_yaml(path, config)
    assert config._get_node("derived")._value() == "${base}"  # the caller's config is not resolved
    loaded = load_hparams_from_yaml(path)
    assert isinstance(loaded, omegaconf.DictConfig)
    assert omegaconf.OmegaConf.to_container(loaded) == {"base": 3, "derived": 3, "nested": {"x": [1, 2]}}


class Configured(BoringModel):
    def __init__(self, batch_size: int = 1, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.seen: Any = None

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.seen = dict(checkpoint[self.CHECKPOINT_HYPER_PARAMS_KEY])


def _checkpoint(tmp_path: Any, **entries: Any) -> str:
    path = str(tmp_path / "model.ckpt")
    torch.save({"state_dict": BoringModel().state_dict(), "pytorch-lightning_version": "2.6.6", **entries}, path)
    return path


def test_old_checkpoint_keys_and_types_are_read(tmp_path: Any) -> None:
    assert CHECKPOINT_PAST_HPARAMS_KEYS == ("hparams", "module_arguments")
    path = _checkpoint(tmp_path, module_arguments={"batch_size": -17}, hparams_type="Namespace")
    model = Configured.load_from_checkpoint(path)
    assert isinstance(model.hparams, AttributeDict)
    assert dict(model.hparams) == {"batch_size": -17, "lr": 0.1}


def test_overrides_are_in_the_checkpoint_on_load_checkpoint_sees(tmp_path: Any) -> None:
    path = _checkpoint(tmp_path, hyper_parameters={"batch_size": 4, "lr": 0.5, "unknown": 1})
    model = Configured.load_from_checkpoint(path, lr=0.25)
    assert dict(model.hparams) == {"batch_size": 4, "lr": 0.25}  # an argument __init__ lacks is dropped
    assert model.seen == {"batch_size": 4, "lr": 0.25, "unknown": 1}


def test_hparams_file_may_be_csv(tmp_path: Any) -> None:
    save_hparams_to_tags_csv(tmp_path / "tags.csv", {"batch_size": 9})
    path = _checkpoint(tmp_path, hyper_parameters={"batch_size": 4})
    assert Configured.load_from_checkpoint(path, hparams_file=tmp_path / "tags.csv").hparams.batch_size == 9
    with pytest.raises(ValueError, match=r"a \.csv, \.yml or \.yaml file is required"):
        Configured.load_from_checkpoint(path, hparams_file=tmp_path / "tags.json")
