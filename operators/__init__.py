"""operators: neural operators (FNO, DeepONet, U-Net baselines) trained on dmech solver data.

Not built yet (see the README's feature table). This package may import ``dmech``; it never
imports ``pinn`` or ``koopman``.
"""

__all__: list[str] = []
