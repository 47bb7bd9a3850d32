"""The one exception raised when a dmech data file cannot be read as asked."""

import os


class DataFileError(ValueError):
    """A dmech data file cannot be read, is corrupted, or is not the artefact asked for.

    The message always starts with the file's path, followed by what is wrong: not a dmech
    file, truncated, a member missing, corrupted bytes (content hash or zip CRC mismatch),
    an unsupported ``format_version``, or a card/``like`` mismatch (expected versus found).
    Operating-system errors (a missing file, no permission) are not wrapped: they surface as
    the usual `OSError` subclasses, e.g. `FileNotFoundError`.

    Attributes:
        path: the file concerned, as a string.
        problem: what is wrong with it, without the path.

    Example:
        >>> try:
        ...     load_arrays("results.dmech", generator="dmech.cfd.burgers_dataset")
        ... except DataFileError as e:
        ...     print(e.problem)  # doctest: +SKIP
    """

    path: str
    problem: str

    def __init__(self, path: str | os.PathLike[str], problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(self.path, problem)

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"
