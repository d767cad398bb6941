"""``lightning_fabric.utilities.seed``: seeding every generator, and each DataLoader worker."""

from shim.utilities.seed import isolate_rng, pl_worker_init_function, reset_seed, seed_everything

__all__ = ["isolate_rng", "pl_worker_init_function", "reset_seed", "seed_everything"]
