"""Seeding of Python, NumPy (when installed) and torch, and per-worker seeds for DataLoader workers."""

import os
import random
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import torch

from shim.utilities.rank_zero import current_rank, get_logger, rank_zero_warn

__all__ = [
    "collect_rng_states",
    "isolate_rng",
    "pl_worker_init_function",
    "reset_seed",
    "seed_everything",
    "set_rng_states",
]

log = get_logger(__name__)

_MIN_SEED = 0
_MAX_SEED = 2**32 - 1
_MASK64 = (1 << 64) - 1


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def seed_everything(seed: int | None = None, workers: bool = False, verbose: bool = True) -> int:
    """Seed Python's ``random``, NumPy (when installed) and torch, and remember the seed in ``PL_GLOBAL_SEED``.

    Args:
        seed: The seed. ``None`` reads ``PL_GLOBAL_SEED`` from the environment, or uses 0 with a warning.
        workers: Give every DataLoader worker a seed derived from this one, its worker id and the process rank.
        verbose: Log the chosen seed (and warn when none was given).

    Returns:
        The seed that was used.

    Raises:
        ValueError: If the seed is outside ``[0, 2**32 - 1]`` or ``PL_GLOBAL_SEED`` is not an integer.
    """
    if seed is None:
        env_seed = os.environ.get("PL_GLOBAL_SEED")
        if env_seed is None:
            seed = 0
            if verbose:
                rank_zero_warn(f"No seed found, seed set to {seed}")
        else:
            try:
                seed = int(env_seed)
            except ValueError:
                raise ValueError(f"PL_GLOBAL_SEED must hold an integer seed, got {env_seed!r}") from None
    elif not isinstance(seed, int):
        seed = int(seed)
    if not _MIN_SEED <= seed <= _MAX_SEED:
        raise ValueError(f"seed={seed} is out of range: a seed must lie in [{_MIN_SEED}, {_MAX_SEED}]")
    if verbose:
        log.info(f"Seed set to {seed}")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    np = _numpy()
    if np is not None:
        np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PL_SEED_WORKERS"] = str(int(workers))
    return seed


def reset_seed() -> None:
    """Re-apply the seed stored in ``PL_GLOBAL_SEED`` (for example in a freshly spawned process)."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    if seed is None:
        return
    workers = os.environ.get("PL_SEED_WORKERS", "0")
    seed_everything(int(seed), workers=bool(int(workers)), verbose=False)


def _seed_sequence(base_seed: int, worker_id: int, global_rank: int, count: int) -> list[int]:
    # Mix the three inputs into one 64-bit value (the MurmurHash3 finaliser spreads small seeds over all bits),
    # then draw `count` values from a 64-bit linear congruential generator. Lightning derives worker seeds the
    # same way, so workers see the same random streams under both.
    state = (base_seed << 32) | (worker_id << 16) | global_rank  # wider than 64 bits until the first multiply
    state ^= state >> 33
    state = (state * 0xFF51AFD7ED558CCD) & _MASK64
    state ^= state >> 33
    state = (state * 0xC4CEB9FE1A85EC53) & _MASK64
    state ^= state >> 33
    seeds = []
    for _ in range(count):
        state = (state * 6364136223846793005 + 1) & _MASK64
        seeds.append(state)
    return seeds


def pl_worker_init_function(worker_id: int, rank: int | None = None) -> None:
    """Seed torch, ``random`` and NumPy inside a DataLoader worker from the process seed, worker id and rank.

    The Trainer installs it as ``worker_init_fn`` after ``seed_everything(..., workers=True)``.
    """
    global_rank = rank if rank is not None else current_rank()
    # torch gives each worker initial_seed = base_seed + worker_id; recover the base to use all its bits
    base_seed = torch.initial_seed() - worker_id
    seeds = _seed_sequence(base_seed, worker_id, global_rank, count=4)
    torch.manual_seed(seeds[0])
    random.seed((seeds[1] << 32) | seeds[2])
    np = _numpy()
    if np is not None:
        np.random.seed(np.random.SeedSequence([base_seed, worker_id, global_rank]).generate_state(4))


def collect_rng_states() -> dict[str, Any]:
    """The global random states of torch, CUDA, Python and NumPy, as plain tensors, tuples and lists.

    NumPy's state array becomes a list of ints so the dict loads with ``torch.load(weights_only=True)``.
    """
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    np = _numpy()
    if np is not None:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        states["numpy"] = (name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached))
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch.cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what ``collect_rng_states`` returned."""
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    np = _numpy()
    if np is not None and "numpy" in states:
        name, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "torch.cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch.cuda"])


@contextmanager
def isolate_rng() -> Generator[None, None, None]:
    """Restore the random states of torch, Python and NumPy on exit, so the block does not disturb them."""
    states = collect_rng_states()
    try:
        yield
    finally:
        set_rng_states(states)
