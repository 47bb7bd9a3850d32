"""jax-md, imported once under standard dtype and rank promotion: its modules compute
arrays at import time that mix int32 and float32 (and rely on rank promotion), which fails
under the strict settings dmech's tests use. The context is local to the import."""

import warnings

import jax

with (
    jax.numpy_dtype_promotion("standard"),
    jax.numpy_rank_promotion("allow"),
    warnings.catch_warnings(),
):
    warnings.simplefilter("ignore")
    from jax_md import energy, minimize, partition, quantity, simulate, smap, space

__all__ = ["energy", "minimize", "partition", "quantity", "simulate", "smap", "space"]
