"""Where loaders come from: arguments, datamodules and module methods; what is not a loader; their arrangement."""

from typing import Any

import pytest
from torch.utils.data import DataLoader

import shim
from shim.demos.boring_classes import BoringModel, RandomDataset
from shim.trainer.data import as_loader_list, in_given_structure
from shim.utilities.exceptions import MisconfigurationException

_ENTRY_POINTS = [
    ("fit", "train_dataloaders", "train"),
    ("validate", "dataloaders", "val"),
    ("test", "dataloaders", "test"),
]
_ENTRY_POINTS.append(("predict", "dataloaders", "predict"))


def _model_without_loaders() -> BoringModel:
    model = BoringModel()
    for prefix in ("train", "val", "test", "predict"):
        setattr(model, f"{prefix}_dataloader", None)
    return model


def _trainer() -> shim.Trainer:
    return shim.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False)


@pytest.mark.parametrize(("fn", "argument", "prefix"), _ENTRY_POINTS)
@pytest.mark.parametrize(("value", "shown"), [(object(), "<object object at"), ([1, object()], "got 1,")])
def test_a_passed_non_iterable_raises_naming_the_argument(
    fn: str, argument: str, prefix: str, value: Any, shown: str
) -> None:
    with pytest.raises(TypeError) as info:
        getattr(_trainer(), fn)(_model_without_loaders(), **{argument: value})
    message = str(info.value)
    assert message.startswith(f"`Trainer.{fn}({argument}=...)` got ")
    assert shown in message
    assert message.endswith(
        "which is not iterable: pass a `DataLoader` or another iterable of batches (or a list or dict of them)."
    )


@pytest.mark.parametrize(("fn", "argument", "prefix"), _ENTRY_POINTS)
@pytest.mark.parametrize("value", [None, object(), [1, object()]])
def test_a_returned_non_iterable_raises_naming_the_method(fn: str, argument: str, prefix: str, value: Any) -> None:
    model = _model_without_loaders()
    setattr(model, f"{prefix}_dataloader", lambda: value)
    with pytest.raises(TypeError, match=rf"^`BoringModel.{prefix}_dataloader\(\)` returned .*, which is not iterable"):
        getattr(_trainer(), fn)(model)


@pytest.mark.parametrize(("fn", "argument", "prefix"), _ENTRY_POINTS)
def test_no_loader_and_a_method_set_to_none_is_a_type_error(fn: str, argument: str, prefix: str) -> None:
    with pytest.raises(TypeError) as info:
        getattr(_trainer(), fn)(_model_without_loaders(), **{argument: None})
    assert str(info.value) == (
        f"`Trainer.{fn}({argument}=None)` has no loader to use and `BoringModel.{prefix}_dataloader` is None: pass a"
        f" `DataLoader` to `{fn}()`, or implement `{prefix}_dataloader()`."
    )


@pytest.mark.parametrize("prefix", ["train", "val", "test", "predict"])
def test_the_default_loader_methods_raise(prefix: str) -> None:
    with pytest.raises(MisconfigurationException, match=f"`{prefix}_dataloader` is not defined"):
        getattr(shim.LightningModule(), f"{prefix}_dataloader")()


def test_an_iterable_that_is_not_a_collection_is_a_loader() -> None:
    class Indexable:  # iterable through __getitem__, as iter() accepts
        def __getitem__(self, index: int) -> Any:
            if index >= 2:
                raise IndexError(index)
            return RandomDataset(32, 1)[0][None]

    predictions = _trainer().predict(BoringModel(), Indexable())
    assert predictions is not None
    assert len(predictions) == 1  # fast_dev_run=1


_A, _B = DataLoader(RandomDataset(2, 2)), DataLoader(RandomDataset(2, 2))


@pytest.mark.parametrize(
    ("given", "flat", "arranged"),
    [
        (_A, [_A], _A),
        ([_A], [_A], [_A]),
        ((_A, _B), [_A, _B], (_A, _B)),
        ({"b": _B, "a": _A}, [_B, _A], {"b": _B, "a": _A}),
        (None, [None], None),
    ],
)
def test_loaders_are_flattened_and_arranged_back(given: Any, flat: list[Any], arranged: Any) -> None:
    assert as_loader_list(given) == flat
    assert in_given_structure(given, flat) == arranged
    assert type(in_given_structure(given, flat)) is type(arranged)
