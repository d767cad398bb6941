"""LightningOptimizer: the wrapper pickles (with the Trainer that holds it) and comes back as the same kind."""

import io
from pathlib import Path

import torch

import shim
from shim.core.optimizer import LightningOptimizer
from shim.demos.boring_classes import BoringModel


def test_a_fitted_trainer_and_its_model_pickle(tmp_path: Path) -> None:
    trainer = shim.Trainer(
        max_steps=2, logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path)
    )
    trainer.fit(BoringModel())
    torch.save(trainer.model, io.BytesIO())
    buffer = io.BytesIO()
    torch.save(trainer, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert loaded.global_step == 2
    wrapper = loaded.strategy._lightning_optimizers[0]
    assert type(wrapper).__name__ == "LightningSGD"
    assert isinstance(wrapper, LightningOptimizer)
    assert isinstance(wrapper, torch.optim.SGD)
    assert wrapper.param_groups is wrapper.optimizer.param_groups, "the wrapper still shares the optimizer's groups"


def test_an_unpickled_wrapper_steps_its_optimizer() -> None:
    import pickle

    param = torch.nn.Parameter(torch.ones(2))
    wrapper = LightningOptimizer(torch.optim.SGD([param], lr=0.5))
    copy = pickle.loads(pickle.dumps(wrapper))
    copy_param = copy.param_groups[0]["params"][0]
    copy_param.grad = torch.ones(2)
    copy.optimizer.step()
    assert torch.equal(copy_param.detach(), torch.full((2,), 0.5))
    assert torch.equal(param.detach(), torch.ones(2)), "the copy has its own parameters"
