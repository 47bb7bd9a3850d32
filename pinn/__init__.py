"""pinn: physics-informed neural networks, forward and inverse, meta-learning and transfer.

Not built yet (see the README's feature table). This package may import ``dmech``; it never
imports ``operators`` or ``koopman``.
"""

__all__: list[str] = []
