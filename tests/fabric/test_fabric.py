"""The Fabric helpers Trainer scripts import: shim's own objects under Fabric's paths, with and without the redirect."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import shim
from shim.accelerators import XLAAccelerator
from shim.fabric.accelerators import TPUAccelerator
from shim.fabric.utilities.cloud_io import _load, get_filesystem
from shim.utilities.exceptions import MisconfigurationException

DATA = Path(__file__).parent.parent / "data"


def _run_under_redirect(tmp_path: Path, source: str) -> list[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    result = subprocess.run(
        [sys.executable, "-m", "shim", "run", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_fabric_paths_resolve_to_the_objects_shim_uses(tmp_path: Path) -> None:
    lines = _run_under_redirect(
        tmp_path,
        """
        import shim, shim.plugins.environments as env
        from lightning.fabric.accelerators import TPUAccelerator, XLAAccelerator, CPUAccelerator, CUDAAccelerator
        from lightning_fabric.utilities.seed import seed_everything
        from lightning_fabric.utilities.rank_zero import rank_zero_only, rank_zero_info
        from lightning_fabric.utilities import rank_zero_only as also
        from lightning_utilities.core.rank_zero import rank_zero_only as utilities_decorator
        from lightning_fabric.utilities.types import _PATH
        from lightning_fabric.utilities.cloud_io import get_filesystem, _load
        from lightning_fabric.utilities.apply_func import apply_to_collection, move_data_to_device
        from lightning_fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
        from lightning.fabric.plugins.environments import TorchElasticEnvironment
        from lightning.fabric.utilities.data import AttributeDict
        print(seed_everything is shim.seed_everything, XLAAccelerator is shim.accelerators.XLAAccelerator)
        print(rank_zero_only is also is utilities_decorator, rank_zero_only.rank)
        print(SLURMEnvironment is env.SLURMEnvironment, TorchElasticEnvironment is env.TorchElasticEnvironment)
        print(AttributeDict is shim.utilities.AttributeDict, TPUAccelerator.is_available())
        """,
    )
    assert lines == ["True True", "True 0", "True True", "True False"]


def test_fabric_configuration_error_is_the_one_the_trainer_raises(tmp_path: Path) -> None:
    lines = _run_under_redirect(
        tmp_path,
        """
        import lightning.pytorch as pl
        from lightning.fabric.utilities.exceptions import MisconfigurationException
        try:
            pl.Trainer(max_epochs=-5)
        except MisconfigurationException as error:
            print(type(error).__name__)
        """,
    )
    assert lines == ["MisconfigurationException"]


def test_fabric_itself_and_what_shim_lacks_say_so(tmp_path: Path) -> None:
    lines = _run_under_redirect(
        tmp_path,
        """
        for statement in ("from lightning_fabric import Fabric", "from lightning.fabric import Fabric",
                          "import lightning_fabric.strategies",
                          "from lightning_fabric.utilities import AttributeDict, is_shared_filesystem"):
            try:
                exec(statement)
            except ImportError as error:
                print(error)
        """,
    )
    assert lines == [
        "shim does not implement lightning_fabric.Fabric yet",
        "shim does not implement lightning.fabric.Fabric yet",
        "shim does not implement lightning_fabric.strategies yet",
        "shim does not implement lightning_fabric.utilities.is_shared_filesystem yet",
    ]


@pytest.mark.parametrize(
    "name", ["lightning-2.6.6.ckpt", "pytorch_lightning-2.6.6.ckpt", "pytorch_lightning-1.9.5.ckpt"]
)
def test_checkpoints_written_by_real_lightning_load_under_the_redirect(tmp_path: Path, name: str) -> None:
    # written by lightning 2.6.6 / pytorch-lightning 2.6.6 / 1.9.5: the saved hyper-parameters hold Lightning's own
    # AttributeDict, pickled as lightning.fabric..., lightning_fabric... and pytorch_lightning.utilities.parsing...
    lines = _run_under_redirect(
        tmp_path,
        f"""
        import torch
        import pytorch_lightning as pl
        from pytorch_lightning.utilities import AttributeDict

        class Model(pl.LightningModule):
            def __init__(self, optim, hidden=3):
                super().__init__()
                self.save_hyperparameters()
                self.layer = torch.nn.Linear(4, hidden)

        path = {str(DATA / name)!r}
        raw = torch.load(path, weights_only=False)
        print(type(raw["hyper_parameters"]["optim"]) is AttributeDict, raw["hyper_parameters"]["optim"].lr)
        model = Model.load_from_checkpoint(path, weights_only=False)
        print(type(model.hparams.optim) is AttributeDict, model.hparams.optim.name, model.hparams.hidden)
        print([round(v, 4) for v in model.layer.bias.tolist()])
        """,
    )
    assert lines == ["True 0.05", "True sgd 3", "[-0.8777, -0.7311, -0.6061]"]


def test_xla_reports_availability_and_refuses_to_run() -> None:
    assert XLAAccelerator.is_available() is (XLAAccelerator.auto_device_count() > 0)
    assert issubclass(TPUAccelerator, XLAAccelerator)
    with pytest.raises(MisconfigurationException, match="TPU"):
        XLAAccelerator()


def test_cloud_io_reads_from_any_file_system(tmp_path: Path) -> None:
    local = tmp_path / "x.pt"
    torch.save({"a": torch.tensor([1.0, 2.0])}, local)
    assert type(get_filesystem(local)).__name__ == "LocalFileSystem"
    assert torch.equal(_load(local)["a"], torch.tensor([1.0, 2.0]))
    fs = get_filesystem("memory://cloud_io_test/x.pt")
    with fs.open("memory://cloud_io_test/x.pt", "wb") as f:
        torch.save({"b": 3}, f)
    try:
        assert _load("memory://cloud_io_test/x.pt") == {"b": 3}
    finally:
        fs.rm("memory://cloud_io_test", recursive=True)
    with open(local, "rb") as f:
        assert _load(f, weights_only=True)["a"].tolist() == [1.0, 2.0]


def test_fabric_modules_hold_shims_own_objects() -> None:
    from shim.fabric.utilities import AttributeDict, rank_zero, seed

    assert seed.seed_everything is shim.seed_everything
    assert AttributeDict is shim.utilities.AttributeDict
    assert rank_zero.rank_zero_info is shim.utilities.rank_zero_info
