"""ModelPruning leaves the same weights and masks as Lightning's after the same short fit, and its checkpoints load
into either library."""

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

import shim


def _model_class(pkg: ModuleType) -> type:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class Pruned(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 8, bias=False), nn.Linear(8, 2))

    return Pruned


# (name, ModelPruning kwargs, Trainer kwargs); the lottery ticket rewinds once at most (see the note below)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "global-l1",
        {"pruning_fn": "l1_unstructured", "amount": 0.3, "use_lottery_ticket_hypothesis": False},
        {"max_epochs": 2},
    ),
    (
        "local-random-scheduled-masks-kept",
        {
            "pruning_fn": "random_unstructured",
            "use_global_unstructured": False,
            "amount": lambda epoch: 0.1 * (epoch + 1),
            "use_lottery_ticket_hypothesis": lambda epoch: epoch == 2,
            "make_pruning_permanent": False,
        },
        {"max_epochs": 3},
    ),
    (
        "ln-structured-on-validation-end",
        {
            "pruning_fn": "ln_structured",
            "use_global_unstructured": False,
            "parameter_names": ["weight"],
            "pruning_dim": 0,
            "pruning_norm": 1,
            "amount": 0.25,
            "prune_on_train_epoch_end": False,
            "make_pruning_permanent": False,
        },
        {"max_epochs": 1},
    ),
    (
        "global-int-amount-every-other-epoch",
        {
            "pruning_fn": "l1_unstructured",
            "amount": 40,
            "apply_pruning": lambda epoch: epoch % 2 == 0,
            "use_lottery_ticket_hypothesis": False,
        },
        {"max_epochs": 3},
    ),
]


def _run(pkg: ModuleType, pruning_kwargs: dict[str, Any], trainer_kwargs: dict[str, Any], root: Path) -> Any:
    pkg.seed_everything(11)
    model = _model_class(pkg)()
    callbacks = importlib.import_module(f"{pkg.__name__}.callbacks")
    checkpoint = callbacks.ModelCheckpoint(dirpath=root, save_last=True)
    trainer = pkg.Trainer(
        default_root_dir=root,
        limit_train_batches=4,
        limit_val_batches=2,
        num_sanity_val_steps=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callbacks.ModelPruning(**pruning_kwargs), checkpoint],
        **trainer_kwargs,
    )
    trainer.fit(model)
    return model, checkpoint.last_model_path


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("name", "pruning_kwargs", "trainer_kwargs"), CASES, ids=[c[0] for c in CASES])
def test_weights_and_masks_match_lightning(
    lightning: ModuleType, tmp_path: Path, name: str, pruning_kwargs: dict[str, Any], trainer_kwargs: dict[str, Any]
) -> None:
    expected, expected_ckpt = _run(lightning, pruning_kwargs, trainer_kwargs, tmp_path / "lightning")
    actual, actual_ckpt = _run(shim, pruning_kwargs, trainer_kwargs, tmp_path / "shim")
    want, got = expected.state_dict(), actual.state_dict()
    assert list(got) == list(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)
    saved_want = torch.load(expected_ckpt, weights_only=True)["state_dict"]
    saved_got = torch.load(actual_ckpt, weights_only=True)["state_dict"]
    assert sorted(saved_got) == sorted(saved_want)
    for key in saved_want:
        torch.testing.assert_close(saved_got[key], saved_want[key], rtol=0, atol=0, msg=key)


@pytest.mark.filterwarnings("ignore")
def test_pruned_checkpoints_load_both_ways(lightning: ModuleType, tmp_path: Path) -> None:
    kwargs = {"pruning_fn": "l1_unstructured", "amount": 0.5}
    _, lightning_ckpt = _run(lightning, kwargs, {"max_epochs": 1}, tmp_path / "lightning")
    _, shim_ckpt = _run(shim, kwargs, {"max_epochs": 1}, tmp_path / "shim")
    into_shim = _model_class(shim).load_from_checkpoint(lightning_ckpt)
    into_lightning = _model_class(lightning).load_from_checkpoint(shim_ckpt)
    for key, value in into_lightning.state_dict().items():
        torch.testing.assert_close(into_shim.state_dict()[key], value, rtol=0, atol=0, msg=key)
    assert int((into_shim.layer[0].weight == 0).sum()) > 0


# Lightning rewinds by pointing each parameter at its CPU snapshot's storage, so on CPU a second rewind finds the
# snapshot trained along and changes nothing; shim copies the snapshot, so every rewind returns to the values before
# training (what Lightning does on GPU, where the copy to the device is a new tensor). The cases above rewind once.
