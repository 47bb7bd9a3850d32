"""From design variables to physical densities: filter, projection, passive regions."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float
from .._static import StaticArray
from ._filters import DensityFilter
from ._interpolation import heaviside_projection

_FILTER_KINDS = ("density", "sensitivity")


class Parametrisation(eqx.Module):
    r"""The map from design variables ``x`` to the physical densities ``ρ̄`` the physics sees:
    ``ρ̃ = H x`` (density filter), ``ρ̄ = P_β(ρ̃)`` (Heaviside projection at threshold
    ``eta``), then ``ρ̄ = 1`` on passive solid and ``0`` on passive void cells.

    With ``filter_kind="sensitivity"`` the densities are not filtered (``ρ̃ = x``); the
    filter acts on the objective's gradient instead (:meth:`filter_gradient`, Sigmund's
    heuristic, the 88-line code's ``ft = 1``).

    Attributes:
        filter: a :class:`DensityFilter`, or ``None``.
        filter_kind: ``"density"`` or ``"sensitivity"``.
        eta: the projection threshold; ``None`` for no projection.
        solid, void: boolean masks of shape ``(cells,)`` of the passive cells, or ``None``.
    """

    filter: DensityFilter | None = None
    filter_kind: str = eqx.field(static=True, default="density")
    eta: float | None = eqx.field(static=True, default=None)
    solid: StaticArray | None = eqx.field(static=True, default=None)
    void: StaticArray | None = eqx.field(static=True, default=None)

    def __init__(
        self,
        filter: DensityFilter | None = None,
        filter_kind: str = "density",
        *,
        eta: float | None = None,
        solid: np.ndarray | None = None,
        void: np.ndarray | None = None,
    ):
        if filter_kind not in _FILTER_KINDS:
            raise ValueError(f"filter_kind must be 'density' or 'sensitivity', got {filter_kind!r}")
        if eta is not None and not 0 < eta < 1:
            raise ValueError(f"eta must lie in (0, 1), got {eta}")
        if filter_kind == "sensitivity" and eta is not None:
            raise ValueError("a projection (eta) needs filter_kind='density'")
        masks = {}
        for name, mask in (("solid", solid), ("void", void)):
            if mask is not None:
                mask = np.asarray(mask)
                if mask.dtype != bool or mask.ndim != 1:
                    raise ValueError(f"{name} must be a boolean mask of shape (cells,)")
            masks[name] = mask
        if masks["solid"] is not None and masks["void"] is not None:
            if masks["solid"].shape != masks["void"].shape:
                raise ValueError("solid and void must have the same shape (cells,)")
            if np.any(masks["solid"] & masks["void"]):
                raise ValueError("a cell cannot be both passive solid and passive void")
        self.filter = filter
        self.filter_kind = filter_kind
        self.eta = None if eta is None else float(eta)
        self.solid = None if masks["solid"] is None else StaticArray(masks["solid"])
        self.void = None if masks["void"] is None else StaticArray(masks["void"])

    def check(self, num_cells: int) -> None:
        """Raise a ``ValueError`` unless the masks fit ``num_cells`` design variables."""
        for name in ("solid", "void"):
            mask = getattr(self, name)
            if mask is not None and mask.array.shape != (num_cells,):
                raise ValueError(f"{name} must have shape ({num_cells},), got {mask.array.shape}")

    def __call__(
        self, design: Float[Array, " cells"], beta: Float[ArrayLike, ""] = 1.0
    ) -> Float[Array, " cells"]:
        """The physical densities ``ρ̄``, shape ``(cells,)``; ``beta`` is the projection's
        sharpness (an array leaf: changing it does not recompile)."""
        rho = design
        if self.filter is not None and self.filter_kind == "density":
            rho = self.filter(rho)
        if self.eta is not None:
            rho = heaviside_projection(rho, beta, self.eta)
        return self.impose_passive(rho)

    def impose_passive(self, values: Float[Array, " cells"]) -> Float[Array, " cells"]:
        """``values`` with ones on the passive solid and zeros on the passive void cells."""
        if self.solid is not None:
            values = jnp.where(self.solid.array, jnp.ones((), values.dtype), values)
        if self.void is not None:
            values = jnp.where(self.void.array, jnp.zeros((), values.dtype), values)
        return values

    def filter_gradient(
        self, design: Float[Array, " cells"], gradient: Float[Array, " cells"]
    ) -> Float[Array, " cells"]:
        """The objective's gradient after the sensitivity filter (unchanged otherwise)."""
        if self.filter is None or self.filter_kind != "sensitivity":
            return gradient
        return self.filter.sensitivity(design, gradient)
