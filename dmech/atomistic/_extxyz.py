"""Extended-XYZ reading and writing (the format of ASE, QUIP and most DFT datasets), with
energies, forces and stresses, so potentials can be trained on anyone's data."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, DTypeLike, Float
from ._structures import Structure

__all__ = ["Frame", "read_extxyz", "write_extxyz"]


class Frame(eqx.Module):
    """A configuration with optional reference labels (one extended-XYZ frame).

    Attributes:
        structure: the `Structure`.
        energy: the total energy (energy units), a scalar, or ``None``.
        forces: shape ``(n_atoms, 3)`` (energy / length), or ``None``.
        stress: shape ``(3, 3)``, ``(1/V) ∂E/∂ε`` positive in tension (ASE's convention),
            or ``None``.
    """

    structure: Structure
    energy: Array | None = None
    forces: Float[Array, "n 3"] | None = None
    stress: Float[Array, "3 3"] | None = None


_KEY_VALUE = re.compile(r'(\w+)=("[^"]*"|\S+)')


def _parse_header(line: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in _KEY_VALUE.findall(line)}


def _format_floats(values: Iterable[float]) -> str:
    return " ".join(f"{float(v):.16g}" for v in values)


def write_extxyz(
    path: str | os.PathLike[str],
    frames: Sequence[Frame | Structure] | Frame | Structure,
    *,
    append: bool = False,
) -> None:
    """Write frames (or bare structures) to an extended-XYZ file, as ASE reads it.

    Each frame has the lattice (``Lattice="a1 a2 a3"``: the box's columns), ``pbc="T T T"``,
    ``Properties=species:S:1:pos:R:3[:forces:R:3]`` and, when present, ``energy=`` and the
    full ``stress=`` tensor (9 components, row-major).

    Args:
        path: the file.
        frames: `Frame` or `Structure` objects (or one of them).
        append: add to an existing file instead of replacing it.
    """
    if isinstance(frames, (Frame, Structure)):
        frames = [frames]
    lines: list[str] = []
    for item in frames:
        frame = item if isinstance(item, Frame) else Frame(structure=item)
        s = frame.structure
        box = np.asarray(s.box, dtype=np.float64)
        if box.ndim == 1:
            box = np.diag(box)
        positions = np.asarray(s.positions, dtype=np.float64)
        symbols = s.chemical_symbols
        properties = "species:S:1:pos:R:3"
        columns = [positions]
        if frame.forces is not None:
            properties += ":forces:R:3"
            columns.append(np.asarray(frame.forces, dtype=np.float64))
        header = [f'Lattice="{_format_floats(box.T.reshape(-1))}"', f"Properties={properties}"]
        if frame.energy is not None:
            header.append(f"energy={float(frame.energy):.16g}")
        if frame.stress is not None:
            stress = np.asarray(frame.stress, dtype=np.float64).reshape(-1)
            header.append(f'stress="{_format_floats(stress)}"')
        header.append('pbc="T T T"')
        lines.append(str(len(symbols)))
        lines.append(" ".join(header))
        table = np.concatenate(columns, axis=1)
        for symbol, row in zip(symbols, table, strict=True):
            lines.append(f"{symbol:<3s} {_format_floats(row)}")
    with open(path, "a" if append else "w") as stream:
        stream.write("\n".join(lines) + "\n")


def _parse_properties(spec: str, path, frame_index: int) -> list[tuple[str, str, int]]:
    fields = spec.split(":")
    if len(fields) % 3:
        raise ValueError(f"{path}: frame {frame_index}: malformed Properties={spec!r}")
    return [(fields[k], fields[k + 1], int(fields[k + 2])) for k in range(0, len(fields), 3)]


def read_extxyz(
    path: str | os.PathLike[str],
    *,
    symbols: Sequence[str] | None = None,
    dtype: DTypeLike | None = None,
) -> list[Frame]:
    """Read every frame of an extended-XYZ file.

    Per-atom columns named ``species`` (or ``Z``), ``pos`` and ``forces`` (or ``force``)
    are read, others skipped; ``energy``, ``stress`` (9 components, or 6 in Voigt order
    ``xx yy zz yz xz xy``) and ``virial`` (9 components; ``stress = -virial / V``) from the
    header. Periodic frames need a ``Lattice``.

    Args:
        path: the file.
        symbols: the species order (``species`` index ``k`` is ``symbols[k]``); default:
            the symbols in order of first appearance in the file.
        dtype: float dtype of the arrays (default JAX's default float).

    Returns:
        A list of `Frame`.

    Raises:
        ValueError: for a malformed file or a symbol not in ``symbols``, naming the file and
            the frame.
    """
    path = Path(path)
    text = path.read_text().splitlines()
    frames: list[Frame] = []
    parsed: list[tuple] = []
    order: list[str] = list(symbols) if symbols is not None else []
    dtype = jnp.result_type(float) if dtype is None else dtype
    line = 0
    while line < len(text):
        if not text[line].strip():
            line += 1
            continue
        index = len(parsed)
        try:
            n = int(text[line].split()[0])
        except ValueError:
            raise ValueError(f"{path}: frame {index}: expected an atom count, got "
                             f"{text[line]!r}") from None  # fmt: skip
        if line + 2 + n > len(text):
            raise ValueError(f"{path}: frame {index}: the file ends inside the frame")
        header = _parse_header(text[line + 1])
        if "Lattice" not in header:
            raise ValueError(f"{path}: frame {index}: no Lattice (periodic frames only)")
        cell = np.array(header["Lattice"].split(), dtype=np.float64).reshape(3, 3)
        properties = _parse_properties(header.get("Properties", "species:S:1:pos:R:3"), path, index)
        rows = [shlex.split(text[line + 2 + k]) for k in range(n)]
        column = 0
        names: list[str] = []
        positions = forces = None
        for name, kind, width in properties:
            values = [row[column : column + width] for row in rows]
            if name in ("species", "Z") and kind in ("S", "I"):
                names = [v[0] for v in values]
                if kind == "I":
                    names = [_symbol_of_number(int(z)) for z in names]
            elif name == "pos":
                positions = np.array(values, dtype=np.float64)
            elif name in ("forces", "force"):
                forces = np.array(values, dtype=np.float64)
            column += width
        if positions is None or not names:
            raise ValueError(f"{path}: frame {index}: needs species and pos columns")
        for symbol in names:
            if symbol not in order:
                if symbols is not None:
                    raise ValueError(
                        f"{path}: frame {index}: symbol {symbol!r} is not in symbols {order}"
                    )
                order.append(symbol)
        box = cell.T  # Lattice rows are lattice vectors; the box holds them as columns
        stress = None
        if "stress" in header:
            numbers = np.array(header["stress"].split(), dtype=np.float64)
            if numbers.size == 9:
                stress = numbers.reshape(3, 3)
            elif numbers.size == 6:
                xx, yy, zz, yz, xz, xy = numbers
                stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
            else:
                raise ValueError(f"{path}: frame {index}: stress needs 9 or 6 values")
        elif "virial" in header:
            virial = np.array(header["virial"].split(), dtype=np.float64).reshape(3, 3)
            stress = -virial / abs(np.linalg.det(cell))
        energy = float(header["energy"]) if "energy" in header else None
        parsed.append((names, positions, box, energy, forces, stress))
        line += 2 + n
    # every frame names every species seen in the file, in one order
    final = tuple(order)
    for names, positions, box, energy, forces, stress in parsed:
        structure = Structure(
            positions=jnp.asarray(positions, dtype),
            box=jnp.asarray(box, dtype),
            species=jnp.asarray([final.index(symbol) for symbol in names], dtype=jnp.int32),
            symbols=final,
        )
        frames.append(
            Frame(
                structure=structure,
                energy=None if energy is None else jnp.asarray(energy, dtype),
                forces=None if forces is None else jnp.asarray(forces, dtype),
                stress=None if stress is None else jnp.asarray(stress, dtype),
            )
        )
    return frames


_ELEMENTS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As "
    "Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd "
    "Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi"
).split()


def _symbol_of_number(z: int) -> str:
    if not 0 <= z < len(_ELEMENTS):
        raise ValueError(f"atomic number {z} out of range")
    return _ELEMENTS[z]
