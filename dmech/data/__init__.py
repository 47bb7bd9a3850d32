"""dmech.data: datasets, trained models and training checkpoints on disk, with metadata cards.

One artefact, one file (suffix ``.dmech`` by convention): a zip archive holding
``card.json`` (the `Card`: kind, generator, params, shapes, dtypes, code version, content
hash, creation time, extra) and one ``.npy`` member per array. Nothing is pickled. Arrays
round-trip bit for bit, bfloat16 and JAX typed PRNG keys included. Writes are atomic;
reads verify zip CRCs and the content hash, and every failure raises `DataFileError`
naming the file and the problem.

- `save_arrays` / `load_arrays`: named arrays (datasets).
- `save_tree` / `load_tree`: any pytree (equinox models, optax states, checkpoints).
- `read_card`: the card alone.
- `cache_dir` / `load_or_generate`: generate a dataset once, reuse it while its parameters
  are unchanged.
- `atomic_write`: the same all-or-nothing write for any other file (a peer's checkpoint, a
  JSON record).
"""

from ._arrays import load_arrays as load_arrays
from ._arrays import read_card as read_card
from ._arrays import save_arrays as save_arrays
from ._cache import cache_dir as cache_dir
from ._cache import load_or_generate as load_or_generate
from ._card import Card as Card
from ._errors import DataFileError as DataFileError
from ._format import atomic_write as atomic_write
from ._tree import load_tree as load_tree
from ._tree import save_tree as save_tree

__all__ = [
    "Card",
    "DataFileError",
    "atomic_write",
    "cache_dir",
    "load_arrays",
    "load_or_generate",
    "load_tree",
    "read_card",
    "save_arrays",
    "save_tree",
]
