"""The record every engine, command and tab reads: one source's hash, or why there is none.

An unreadable image is a record with its error, never a failed batch: a manifest writer, a
checker, a Ray job or a video scan can go on and report each failure next to its file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

from .errors import HasherError, ImageError
from .value import ImageHash

HashError = Union[ImageError, HasherError]


@dataclass(frozen=True)
class HashResult:
    """``hash`` is set and ``error`` is None, or the other way round."""

    index: int                  # position in the input stream
    source: Any                 # what was asked for (a path, bytes, an image)
    hash: Optional[ImageHash] = None
    error: Optional[HashError] = None

    def __post_init__(self) -> None:
        if (self.hash is None) == (self.error is None):
            raise ValueError("a HashResult holds either a hash or an error")

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> ImageHash:
        """The hash, or raise the error that took its place."""
        if self.error is not None:
            raise self.error
        return self.hash  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a process boundary or a JSON line; the source is left to the caller."""
        if self.error is not None:
            return {"index": self.index, "error": str(self.error),
                    "error_type": "image" if isinstance(self.error, ImageError) else "hasher"}
        return {"index": self.index, **self.hash.to_dict()}  # type: ignore[union-attr]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Any = None) -> "HashResult":
        if "error" in data:
            kind = ImageError if data.get("error_type") == "image" else HasherError
            return cls(data["index"], source, error=kind(data["error"]))
        return cls(data["index"], source, hash=ImageHash.from_dict(data))
