"""ModelCheckpoint writes the same files, keeps the same best models and saves the same state as Lightning's."""

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.callbacks.model_checkpoint import ModelCheckpoint
from shim.utilities.exceptions import MisconfigurationException

# a scripted validation metric per epoch, so top-k decisions are known
VAL_LOSSES = [0.9, 0.5, 0.7, 0.3, 0.6]

CASES: list[dict[str, Any]] = [
    {},
    {"monitor": "val_loss", "save_top_k": 2},
    {"monitor": "val_loss", "mode": "max", "save_top_k": 1, "save_last": True},
    {"monitor": "val_loss", "save_top_k": -1, "filename": "{epoch}-{val_loss:.2f}"},
    {"monitor": "val_loss", "filename": "{epoch}-{val_loss:.2f}", "auto_insert_metric_name": False},
    {"save_top_k": -1, "every_n_train_steps": 3},
    {"save_top_k": -1, "every_n_epochs": 2},
    {"save_last": True, "save_top_k": 0},
    {"save_last": "link", "monitor": "val_loss"},
    {"monitor": "val/loss", "filename": "{epoch}-{val/loss:.1f}"},
    {"filename": "fixed", "save_top_k": 1},
    {"filename": "fixed", "save_top_k": -1, "every_n_epochs": 1, "enable_version_counter": True},
    {"monitor": "val_loss", "save_top_k": 2, "save_on_train_epoch_end": False},
    {"monitor": "train_loss", "save_top_k": 1, "every_n_train_steps": 2},
]


_last_callback: dict[str, Any] = {}


def _run(pkg: ModuleType, kwargs: dict[str, Any], root: Path) -> dict[str, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel
    checkpoint_class = importlib.import_module(f"{pkg.__name__}.callbacks").ModelCheckpoint

    class Model(boring):  # type: ignore[misc, valid-type]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.step(batch)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            value = torch.tensor(VAL_LOSSES[self.current_epoch])
            self.log("val_loss", value)
            self.log("val/loss", value)

    torch.manual_seed(0)
    callback = checkpoint_class(**kwargs)
    _last_callback[pkg.__name__] = callback
    trainer = pkg.Trainer(
        max_epochs=len(VAL_LOSSES),
        limit_train_batches=4,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        callbacks=[callback],
    )
    trainer.fit(Model(), DataLoader(torch.randn(16, 32), batch_size=4), DataLoader(torch.randn(4, 32), batch_size=4))

    def relative(path: str) -> str:
        return os.path.relpath(path, root) if path else ""

    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.ckpt"))
    links = sorted(str(p.relative_to(root)) for p in root.rglob("*.ckpt") if p.is_symlink())
    return {
        "files": files,
        "links": links,
        "best_model_path": relative(callback.best_model_path),
        "best_model_score": None if callback.best_model_score is None else float(callback.best_model_score),
        "best_k_models": {relative(k): float(v) for k, v in callback.best_k_models.items()},
        "kth_best_model_path": relative(callback.kth_best_model_path),
        "last_model_path": relative(callback.last_model_path),
        "state_key": callback.state_key,
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kwargs", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_same_files_and_bookkeeping_as_lightning(lightning: ModuleType, kwargs: dict[str, Any], tmp_path: Path) -> None:
    expected = _run(lightning, kwargs, tmp_path / "pl")
    actual = _run(shim, kwargs, tmp_path / "shim")
    assert expected["files"], "the case saves something"
    assert actual == expected


@pytest.mark.filterwarnings("ignore")
def test_saved_callback_state_matches_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    states = []
    for pkg in (lightning, shim):
        result = _run(pkg, {"monitor": "val_loss", "save_top_k": 2}, tmp_path / pkg.__name__)
        best = tmp_path / pkg.__name__ / result["best_model_path"]
        checkpoint = torch.load(best, weights_only=False)
        (key, state), *_ = checkpoint["callbacks"].items()
        root = str(tmp_path / pkg.__name__)
        normalized = {
            k: (v.replace(root, "ROOT") if isinstance(v, str) else v) for k, v in state.items() if k != "best_k_models"
        }
        normalized["best_k_models"] = {k.replace(root, "ROOT"): float(v) for k, v in state["best_k_models"].items()}
        states.append((key, {k: float(v) if isinstance(v, torch.Tensor) else v for k, v in normalized.items()}))
    assert states[1] == states[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "avg"}, "mode='avg'"),
        ({"save_top_k": -2}, "save_top_k=-2"),
        ({"every_n_train_steps": -1}, "every_n_train_steps=-1"),
        ({"every_n_epochs": -1}, "every_n_epochs=-1"),
        ({"every_n_epochs": 2, "every_n_train_steps": 3}, "give only one"),
        ({"save_top_k": 3}, "needs a `monitor`"),
        ({"save_last": "yes"}, "save_last='yes'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(MisconfigurationException, match=message):
        ModelCheckpoint(**kwargs)


def test_default_trainer_saves_latest_epoch_only(tmp_path: Path) -> None:
    from shim.demos.boring_classes import BoringModel

    trainer = shim.Trainer(
        max_epochs=3, limit_train_batches=2, limit_val_batches=1, logger=False, enable_progress_bar=False,
        default_root_dir=str(tmp_path),
    )  # fmt: skip
    trainer.fit(BoringModel())
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch=2-step=6.ckpt"]


def test_enable_checkpointing_false_writes_nothing(tmp_path: Path) -> None:
    from shim.demos.boring_classes import BoringModel

    trainer = shim.Trainer(
        max_epochs=1, limit_train_batches=2, enable_checkpointing=False, logger=False, enable_progress_bar=False,
        default_root_dir=str(tmp_path),
    )  # fmt: skip
    trainer.fit(BoringModel())
    assert list(tmp_path.rglob("*.ckpt")) == []


def test_checkpoint_callback_with_checkpointing_disabled() -> None:
    with pytest.raises(
        MisconfigurationException, match="enable_checkpointing=False, but callbacks holds ModelCheckpoint"
    ):
        shim.Trainer(enable_checkpointing=False, callbacks=[ModelCheckpoint()])


def test_missing_monitor_raises_after_validation_ran(tmp_path: Path) -> None:
    from shim.demos.boring_classes import BoringModel

    class Model(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("other", 1.0)

    trainer = shim.Trainer(
        max_epochs=1, limit_train_batches=2, limit_val_batches=1, logger=False, enable_progress_bar=False,
        default_root_dir=str(tmp_path), callbacks=[ModelCheckpoint(monitor="missing")],
    )  # fmt: skip
    with pytest.raises(MisconfigurationException, match="monitor='missing'.*found no such metric"):
        trainer.fit(Model())


# -- file names --------------------------------------------------------------------------------------------------
NAME_CASES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ({}, {"epoch": 3, "step": 2}, {}),
    ({"filename": "{epoch:03d}-{acc}"}, {"epoch": 3, "acc": 0.03}, {}),
    ({"filename": "{epoch:03d}-{epoch_test:03d}"}, {"epoch": 3, "epoch_test": 3}, {}),
    ({"filename": "{epoch},{acc:.5f}"}, {"epoch": 3, "acc": 0.03}, {"prefix": "test"}),
    ({"filename": "{missing:d}"}, {}, {}),
    ({"filename": "name"}, {}, {"ver": 3}),
    ({"filename": "{epoch}_{val/loss:.5f}"}, {"epoch": 4, "val/loss": 0.03}, {}),
    ({"filename": "mAP@0.50={val/mAP@0.50:.4f}", "auto_insert_metric_name": False}, {"val/mAP@0.50": 0.2}, {}),
    ({"filename": "{epoch}"}, {"epoch": 1}, {"filename": "last-{epoch}"}),
]


@pytest.mark.parametrize(("kwargs", "metrics", "call"), NAME_CASES)
@pytest.mark.parametrize("join_char", ["-", "@"])
def test_format_checkpoint_name_as_lightning(
    lightning: ModuleType, kwargs: dict[str, Any], metrics: dict[str, Any], call: dict[str, Any], join_char: str
) -> None:
    names = []
    for pkg in (lightning, shim):
        callback = importlib.import_module(f"{pkg.__name__}.callbacks").ModelCheckpoint(dirpath="ckpts", **kwargs)
        callback.CHECKPOINT_JOIN_CHAR = join_char
        names.append(callback.format_checkpoint_name(dict(metrics), **call))
    assert names[1] == names[0]


@pytest.mark.parametrize("dirpath", [None, "", ".", "rel/dir", "~/x", "memory://bucket/run"])
def test_dirpath_is_kept_as_lightning_keeps_it(lightning: ModuleType, dirpath: str | None) -> None:
    assert ModelCheckpoint(dirpath=dirpath).dirpath == lightning.callbacks.ModelCheckpoint(dirpath=dirpath).dirpath


def test_save_last_link_needs_a_local_folder() -> None:
    callback = ModelCheckpoint(dirpath="memory://bucket/run", save_last="link")
    with pytest.raises(ValueError, match=r"save_last='link'\) needs a local folder .* 'memory://bucket/run'"):
        callback.setup(shim.Trainer(logger=False), shim.LightningModule(), stage="fit")
    ModelCheckpoint(dirpath="memory://bucket/run", save_last=True).setup(
        shim.Trainer(logger=False), shim.LightningModule(), stage="fit"
    )


@pytest.mark.filterwarnings("ignore")
def test_to_yaml_writes_best_k_models_as_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    import yaml

    written = []
    for pkg in (lightning, shim):
        root = tmp_path / pkg.__name__
        _run(pkg, {"monitor": "val_loss", "save_top_k": 3, "dirpath": str(root / "ckpts")}, root)
        callback = _last_callback[pkg.__name__]
        callback.to_yaml()
        data = yaml.safe_load((root / "ckpts" / "best_k_models.yaml").read_text())
        written.append({os.path.relpath(k, root): v for k, v in data.items()})
    assert written[1] == written[0]
    assert len(written[0]) == 3


# -- manual optimization -----------------------------------------------------------------------------------------
def _manual_run(pkg: ModuleType, root: Path, keep_copies: bool) -> tuple[dict[str, torch.Tensor], Any, list[str]]:
    import warnings

    fake_losses = [1.0, 1.0, 0.0, 1.0]

    class Module(pkg.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)
            self.automatic_optimization = False
            self.saved_models: dict[int, Any] = {}

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.layer(batch).pow(2).mean()
            self.log("loss", fake_losses[batch_idx], on_step=True, on_epoch=True)
            if keep_copies:
                self.saved_models[batch_idx] = {k: v.detach().clone() for k, v in self.layer.state_dict().items()}
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = importlib.import_module(f"{pkg.__name__}.callbacks").ModelCheckpoint(
        dirpath=str(root), monitor="loss", every_n_train_steps=1, save_weights_only=True
    )
    trainer = pkg.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(root),
        callbacks=[callback],
    )  # fmt: skip
    torch.manual_seed(0)
    module = Module()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, DataLoader(torch.randn(4, 3), batch_size=1))
    best = torch.load(callback.best_model_path, weights_only=True)["state_dict"]
    manual = [str(w.message) for w in caught if "manual optimization" in str(w.message)]
    return best, module, manual


@pytest.mark.filterwarnings("ignore")
def test_manual_optimization_saves_the_pre_step_copy_as_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    pl_best, _, pl_warnings = _manual_run(lightning, tmp_path / "pl", keep_copies=True)
    best, module, warnings = _manual_run(shim, tmp_path / "shim", keep_copies=True)
    # the best step is batch 2 (loss 0): its checkpoint holds the weights from before that step's update
    assert torch.equal(best["layer.weight"], module.saved_models[2]["weight"])
    assert all(torch.equal(best[k], pl_best[k]) for k in pl_best)
    assert not torch.equal(module.layer.weight, module.saved_models[2]["weight"]), "the module keeps its own weights"
    assert warnings == pl_warnings == []


@pytest.mark.filterwarnings("ignore")
def test_manual_optimization_without_a_copy_warns_as_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    pl_best, _, pl_warnings = _manual_run(lightning, tmp_path / "pl", keep_copies=False)
    best, module, warnings = _manual_run(shim, tmp_path / "shim", keep_copies=False)
    assert all(torch.equal(best[k], pl_best[k]) for k in pl_best)
    assert len(warnings) == len(pl_warnings) == 4  # one per save
    assert "every_n_train_steps=1) with manual optimization saves the weights as they are after" in warnings[0]


def test_checkpoints_on_a_remote_file_system(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    from shim.demos.boring_classes import BoringModel

    callback = ModelCheckpoint(dirpath="memory://run/ckpts", save_top_k=2, monitor="step", mode="max", save_last=True)
    trainer = shim.Trainer(
        max_epochs=4, limit_train_batches=2, limit_val_batches=0, logger=False, enable_progress_bar=False,
        default_root_dir=str(tmp_path), callbacks=[callback],
    )  # fmt: skip
    trainer.fit(BoringModel())
    fs = fsspec.filesystem("memory")
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/run/ckpts", detail=False)) == [
        "epoch=2-step=6.ckpt",
        "epoch=3-step=8.ckpt",
        "last.ckpt",
    ]
    assert callback.best_model_path == "memory://run/ckpts/epoch=3-step=8.ckpt"
    assert list(tmp_path.iterdir()) == [], "nothing was written locally"
    loaded = BoringModel.load_from_checkpoint(callback.best_model_path)
    assert torch.equal(loaded.layer.weight, trainer.lightning_module.layer.weight)
    fs.rm("/run", recursive=True)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_loggers_write_their_folder_before_setup_as_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    """Each logger's experiment exists before `setup`, so a checkpoint folder that holds the logs is not empty."""
    seen = []
    for pkg in (lightning, shim):
        root = tmp_path / pkg.__name__
        boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

        class FolderAtSetup(pkg.Callback):  # type: ignore[name-defined,misc]
            def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
                root = trainer.default_root_dir
                seen.append(sorted(os.path.relpath(path, root) for path, _, _ in os.walk(root)))

        checkpoint = importlib.import_module(f"{pkg.__name__}.callbacks").ModelCheckpoint(dirpath=root)
        trainer = pkg.Trainer(
            default_root_dir=root,
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[FolderAtSetup(), checkpoint],
        )
        with pytest.warns(UserWarning, match="not empty"):
            trainer.fit(boring.BoringModel())
    assert seen[1] == seen[0] == [".", "lightning_logs", os.path.join("lightning_logs", "version_0")]
