"""The one value type every backend returns: a fixed-length bit string with its identity attached.

The identity (backend name plus the options that change the bits) travels with the bits so that a
pHash is never silently compared with a dHash, or a hash from one deep model with another's.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np


def _freeze(options: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), _hashable(v)) for k, v in (options or {}).items()))


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return _freeze(value)
    return value


def default_shape(bit_count: int) -> tuple[int, int]:
    """Most square (rows, cols) with rows * cols == bit_count and rows <= cols."""
    rows = math.isqrt(bit_count)
    while bit_count % rows:
        rows -= 1
    return rows, bit_count // rows


class ImageHash:
    """A perceptual hash: bits, the backend that made them, and the options that shaped them.

    ``str(h)`` is ``len(bits) / 4`` lowercase hex digits, most significant bit first, the same
    convention as the ``imagehash`` package, and ``h1 - h2`` is the Hamming distance.
    """

    __slots__ = ("_bits", "backend", "_options", "shape", "detail", "colour")

    def __init__(self, bits, backend: str, options: Mapping[str, Any] | None = None,
                 shape: tuple[int, int] | None = None, *, detail: float | None = None,
                 colour: str | None = None):
        arr = np.asarray(bits)
        if arr.dtype != np.bool_:
            if not np.issubdtype(arr.dtype, np.integer) or not np.isin(arr, (0, 1)).all():
                raise ValueError("ImageHash bits must be booleans (or 0/1 integers)")
            arr = arr.astype(bool)
        arr = arr.reshape(-1)
        if arr.size == 0 or arr.size % 4:
            raise ValueError(f"ImageHash needs a positive multiple of 4 bits, got {arr.size}")
        shape = tuple(shape) if shape is not None else default_shape(arr.size)
        if len(shape) != 2 or shape[0] * shape[1] != arr.size:
            raise ValueError(f"shape {shape} does not hold {arr.size} bits")
        arr.flags.writeable = False
        self._bits = arr
        self.backend = str(backend)
        self._options = _freeze(options)
        self.shape = (int(shape[0]), int(shape[1]))
        #: How much detail the hasher had to work with (mean gradient of its grayscale thumbnail, in
        #: gray levels): near 0 for a flat or nearly blank image, whose hash says little.
        self.detail = None if detail is None else round(float(detail), 2)
        #: A few bytes describing the image's colours (registry.colour), which the hash is blind to.
        self.colour = colour

    def with_quality(self, detail: float | None, colour: str | None) -> "ImageHash":
        """The same hash carrying a detail score and a colour signature (neither changes equality)."""
        return ImageHash(self._bits, self.backend, self.options, self.shape, detail=detail, colour=colour)

    # --- identity ----------------------------------------------------------------------------
    @property
    def bits(self) -> np.ndarray:
        """Flat, read-only boolean array, most significant bit first."""
        return self._bits

    @property
    def matrix(self) -> np.ndarray:
        """The bits as a (rows, cols) grid, as imagehash's ``.hash`` for square sizes."""
        return self._bits.reshape(self.shape)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self._options)

    @property
    def bit_count(self) -> int:
        return int(self._bits.size)

    @property
    def hex_len(self) -> int:
        return self.bit_count // 4

    @property
    def identity(self) -> tuple:
        """What must match for two hashes to be comparable."""
        return (self.backend, self.bit_count, self._options)

    def _check_comparable(self, other: "ImageHash") -> None:
        if not isinstance(other, ImageHash):
            raise TypeError(f"cannot compare ImageHash with {type(other).__name__}")
        if self.backend != other.backend:
            raise ValueError(f"cannot compare a {self.backend!r} hash with a {other.backend!r} hash")
        if self.bit_count != other.bit_count:
            raise ValueError(f"cannot compare hashes of different sizes "
                             f"({self.hex_len} and {other.hex_len} hex digits)")
        if self._options != other._options:
            raise ValueError(f"cannot compare {self.backend!r} hashes made with different options "
                             f"({self.options} vs {other.options})")

    # --- arithmetic --------------------------------------------------------------------------
    def __sub__(self, other: "ImageHash") -> int:
        self._check_comparable(other)
        return int(np.count_nonzero(self._bits != other._bits))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageHash):
            return NotImplemented
        return self.identity == other.identity and bool(np.array_equal(self._bits, other._bits))

    def __hash__(self) -> int:
        return hash((self.identity, str(self)))

    def __len__(self) -> int:
        return self.bit_count

    # --- conversions -------------------------------------------------------------------------
    def __str__(self) -> str:
        return bytes(self).hex()[-self.hex_len:]

    def __repr__(self) -> str:
        opts = f", options={self.options}" if self._options else ""
        return f"ImageHash({str(self)!r}, backend={self.backend!r}{opts})"

    def __int__(self) -> int:
        return int.from_bytes(bytes(self), "big")

    def __index__(self) -> int:
        return int(self)

    @property
    def packed(self) -> np.ndarray:
        """``bytes(self)`` as a read-only uint8 array: one row of ``pack_hashes``, what faiss takes."""
        return np.frombuffer(bytes(self), dtype=np.uint8)

    def __bytes__(self) -> bytes:
        # packbits pads at the end; pad at the front instead so the value reads MSB first.
        pad = (-self.bit_count) % 8
        padded = np.concatenate([np.zeros(pad, bool), self._bits]) if pad else self._bits
        return np.packbits(padded).tobytes()

    @classmethod
    def from_hex(cls, hex_str: str, backend: str, options: Mapping[str, Any] | None = None,
                 shape: tuple[int, int] | None = None) -> "ImageHash":
        """Rebuild a hash from ``str(h)``; give the same backend, options and shape to compare."""
        hex_str = hex_str.strip().lower()
        if not hex_str or any(c not in "0123456789abcdef" for c in hex_str):
            raise ValueError(f"not a hex string: {hex_str!r}")
        nibbles = np.array([int(c, 16) for c in hex_str], dtype=np.uint8)
        bits = np.unpackbits(nibbles[:, None], axis=1)[:, 4:].reshape(-1).astype(bool)
        return cls(bits, backend, options, shape)

    def to_dict(self) -> dict[str, Any]:
        out = {"hash": str(self), "backend": self.backend, "hex_len": self.hex_len,
               "options": self.options, "shape": list(self.shape)}
        if self.detail is not None:
            out["detail"] = self.detail
        if self.colour is not None:
            out["colour"] = self.colour
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ImageHash":
        h = cls.from_hex(data["hash"], data["backend"], data.get("options"), data.get("shape"))
        if data.get("detail") is not None or data.get("colour") is not None:
            h = h.with_quality(data.get("detail"), data.get("colour"))
        return h

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def pack_bits(bits) -> np.ndarray:
    """Rows of booleans (n, bit_count) -> rows of packed uint8 codes (n, ceil(bit_count / 8)).

    Each row is ``bytes(h)`` of the hash with those bits: most significant bit first, and a length
    that is not a whole number of bytes padded with zero bits at the *front* (as ``int(h)`` written
    big-endian), the same for every row, so Hamming distances between rows equal those between
    the hashes. (``np.packbits`` alone pads at the end.)
    """
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim != 2:
        raise ValueError(f"pack_bits takes a 2-D array of bits (n, bit_count), got shape {bits.shape}")
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = np.concatenate([np.zeros((len(bits), pad), dtype=bool), bits], axis=1)
    return np.packbits(bits, axis=1)


def pack_hashes(hashes) -> np.ndarray:
    """Rows of packed uint8 codes, one per hash, for binary indexes (faiss, ``registry.index``).

    Row k is ``bytes(hashes[k])`` (see ``pack_bits``). The hashes must share one identity (backend,
    options and length): a mix is refused with ImageHash's own ValueError, as ``a - b`` refuses it.
    """
    hashes = list(hashes)
    if not hashes:
        raise ValueError("no hashes to pack")
    first = hashes[0]
    if not isinstance(first, ImageHash):
        raise TypeError(f"pack_hashes takes ImageHash values, got {type(first).__name__}")
    identity = first.identity
    for h in hashes:
        if not isinstance(h, ImageHash) or h.identity != identity:
            first._check_comparable(h)  # raises the message ImageHash gives for the same mix
    return pack_bits(np.stack([h.bits for h in hashes]))
