"""koopman: the DMD family, EDMD and deep Koopman autoencoders.

Not built yet (see the README's feature table). This package may import ``dmech``; it never
imports ``operators`` or ``pinn``.
"""

__all__: list[str] = []
