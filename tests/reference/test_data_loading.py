"""When loaders are requested, and what is warned about them, as in Lightning."""

import importlib
import warnings
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim


def _reload_epochs(pkg: ModuleType, kwargs: dict[str, Any], tmp_path: Any) -> dict[str, list[Any]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    seen: dict[str, list[Any]] = {"requests": [], "val_steps": []}

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def train_dataloader(self) -> Any:
            seen["requests"].append(("train", self.current_epoch, self.trainer.sanity_checking))
            return super().train_dataloader()

        def val_dataloader(self) -> Any:
            seen["requests"].append(("val", self.current_epoch, self.trainer.sanity_checking))
            return super().val_dataloader()

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            seen["val_steps"].append((self.current_epoch, self.trainer.sanity_checking))
            return super().validation_step(batch, batch_idx)

    trainer = pkg.Trainer(
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=7,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kwargs,
    )
    trainer.fit(Model())
    return seen


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"reload_dataloaders_every_n_epochs": 1, "num_sanity_val_steps": 0},
        {"reload_dataloaders_every_n_epochs": 1, "num_sanity_val_steps": 1},
        {"reload_dataloaders_every_n_epochs": 2, "check_val_every_n_epoch": 3, "num_sanity_val_steps": 1},
        {"reload_dataloaders_every_n_epochs": 4, "check_val_every_n_epoch": 3, "num_sanity_val_steps": 0},
        {"reload_dataloaders_every_n_epochs": 2, "check_val_every_n_epoch": 2},
        {"reload_dataloaders_every_n_epochs": 1, "val_check_interval": 1},
        {"reload_dataloaders_every_n_epochs": 0},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_reload_epochs_match_lightning(lightning: ModuleType, kwargs: dict[str, Any], tmp_path: Any) -> None:
    expected = _reload_epochs(lightning, kwargs, tmp_path / "pl")
    assert _reload_epochs(shim, kwargs, tmp_path / "shim") == expected


def _warning_kind(message: str) -> str | None:
    """Which loader check a warning comes from, in either package's words."""
    if "IterableDataset" in message and "__len__" in message:
        return "iterable-with-len"
    if "worker" in message:
        return "workers"
    if "shuffl" in message:
        return "evaluation-shuffles"
    if "zero" in message and ("across ranks" in message or "any process" in message):
        return "zero-length"
    return None


class _IterableWithLen(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        return iter(torch.randn(8, 32))

    def __len__(self) -> int:
        return 8


def _loader_warnings(pkg: ModuleType, tmp_path: Any) -> list[tuple[str, str, str | None]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    torch.manual_seed(0)
    shuffled = DataLoader(boring.RandomDataset(32, 8), batch_size=2, shuffle=True)
    empty = DataLoader(boring.RandomDataset(32, 0), batch_size=2)
    iterable_with_len = DataLoader(_IterableWithLen(), batch_size=2)
    trainer = pkg.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return super().validation_step(batch, batch_idx)

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return super().test_step(batch, batch_idx)

    model = Model()
    seen = []
    calls = [
        ("fit", lambda: trainer.fit(model, shuffled, [shuffled, empty])),
        ("validate", lambda: trainer.validate(model, shuffled, verbose=False)),
        ("test", lambda: trainer.test(model, [iterable_with_len, shuffled], verbose=False)),
        ("predict", lambda: trainer.predict(model, shuffled)),
        ("fit-empty", lambda: trainer.fit(model, empty)),
    ]
    for name, call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        seen += [(name, w.category.__name__, _warning_kind(str(w.message))) for w in caught]
    return [entry for entry in seen if entry[2] is not None]


def test_loader_warnings_match_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _loader_warnings(lightning, tmp_path / "pl")
    # Lightning checks a training loader's length twice (the loader, then the CombinedLoader around it)
    expected.remove(("fit-empty", "UserWarning", "zero-length"))
    assert ("validate", "PossibleUserWarning", "evaluation-shuffles") in expected
    assert _loader_warnings(shim, tmp_path / "shim") == expected


def _sanity_batches(pkg: ModuleType, kwargs: dict[str, Any], tmp_path: Any) -> tuple[list[int], list[Any]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    seen: list[int] = []

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            if self.trainer.sanity_checking:
                seen.append(dataloader_idx)
            return super().validation_step(batch, batch_idx)

        def val_dataloader(self) -> Any:
            return [DataLoader(boring.RandomDataset(32, 64), batch_size=8), DataLoader(boring.RandomDataset(32, 64))]

    trainer = pkg.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kwargs,
    )
    trainer.fit(Model())
    return seen, list(trainer.num_sanity_val_batches)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("limit_val_batches", [0.0, 1, 1.0, 0.5, 5, 0.3])
@pytest.mark.parametrize("num_sanity_val_steps", [4, -1])
def test_sanity_check_batches_match_lightning(
    lightning: ModuleType, limit_val_batches: int | float, num_sanity_val_steps: int, tmp_path: Any
) -> None:
    kwargs = {"limit_val_batches": limit_val_batches, "num_sanity_val_steps": num_sanity_val_steps}
    expected = _sanity_batches(lightning, kwargs, tmp_path / "pl")
    assert _sanity_batches(shim, kwargs, tmp_path / "shim") == expected


def _shape(loaders: Any) -> Any:
    if isinstance(loaders, dict):
        return {key: _shape(value) for key, value in loaders.items()}
    if isinstance(loaders, (list, tuple)):
        return type(loaders).__name__, [_shape(value) for value in loaders]
    return type(loaders).__name__


def _loader_shapes(pkg: ModuleType, tmp_path: Any) -> list[Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return super().validation_step(batch, batch_idx)

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return super().test_step(batch, batch_idx)

    def loader() -> DataLoader[Any]:
        return DataLoader(boring.RandomDataset(32, 4))

    trainer = pkg.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    seen = []
    for given in [loader(), [loader()], (loader(),), {"a": loader()}, [loader(), loader()], {"b": loader()}]:
        trainer.validate(Model(), given, verbose=False)
        row = [_shape(trainer.val_dataloaders)]
        trainer.test(Model(), given, verbose=False)
        row += [_shape(trainer.val_dataloaders), _shape(trainer.test_dataloaders)]
        trainer.predict(Model(), given)
        seen.append([*row, _shape(trainer.test_dataloaders), _shape(trainer.predict_dataloaders)])
    trainer.fit(Model(), loader(), {"v": loader()})
    seen.append([_shape(trainer.train_dataloader), _shape(trainer.val_dataloaders)])
    return seen


@pytest.mark.filterwarnings("ignore")
def test_loader_properties_keep_the_given_structure_as_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _loader_shapes(lightning, tmp_path / "pl")
    # each run forgets the loaders of the runs before it
    assert expected[1] == [
        ("list", ["DataLoader"]),
        "NoneType",
        ("list", ["DataLoader"]),
        "NoneType",
        ("list", ["DataLoader"]),
    ]
    assert _loader_shapes(shim, tmp_path / "shim") == expected


def _invalid_loader_errors(pkg: ModuleType) -> list[tuple[str, str, str, str]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    seen = []
    entry_points = [("fit", "train_dataloaders", "train"), ("validate", "dataloaders", "val")]
    entry_points += [("test", "dataloaders", "test"), ("predict", "dataloaders", "predict")]
    for fn, argument, prefix in entry_points:
        for value in [None, object(), [1, object()]]:
            for via in ("argument", "method"):
                model = boring.BoringModel()
                for name in ("train", "val", "test", "predict"):
                    setattr(model, f"{name}_dataloader", None)
                trainer = pkg.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False)
                try:
                    if via == "argument":
                        getattr(trainer, fn)(model, **{argument: value})
                    else:
                        setattr(model, f"{prefix}_dataloader", lambda value=value: value)
                        getattr(trainer, fn)(model)
                    error = "none"
                except Exception as caught:  # the class is what is compared
                    error = type(caught).__name__
                seen.append((fn, via, type(value).__name__, error))
    return seen


@pytest.mark.filterwarnings("ignore")
def test_invalid_loaders_raise_as_in_lightning(lightning: ModuleType) -> None:
    expected = _invalid_loader_errors(lightning)
    assert {error for *_, error in expected} == {"TypeError"}
    assert _invalid_loader_errors(shim) == expected
