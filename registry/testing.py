"""Conformance kit: one call that checks a hasher against the registry's contract.

    from registry.testing import check_hasher
    check_hasher("pdq")                      # a registered backend, by name
    check_hasher(MyHasher, hex_lengths=[16]) # or a class, before it is even registered

Every check runs; failures are collected and raised together as one ``ConformanceError`` that lists
them all, so a plugin author sees everything that is wrong at once. The images are generated here,
deterministically, so the kit needs no files.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Union

import numpy as np
from PIL import Image

from .discovery import REGISTRY
from .errors import HasherError, ImageError
from .factory import create
from .hasher import Hasher
from .value import ImageHash


class ConformanceError(AssertionError):
    """A hasher broke one or more rules of the contract; the message lists each."""


@dataclass
class ConformanceReport:
    hasher: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        lines = [f"conformance of {self.hasher!r}: {len(self.passed)} passed, {len(self.failed)} failed"]
        lines += [f"  FAIL {f}" for f in self.failed]
        return "\n".join(lines)


def sample_image(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A deterministic, photo-like test picture: smooth shading, edges and texture."""
    rng = np.random.RandomState(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    channels = []
    for _ in range(3):
        a, b, c, d = rng.uniform(1, 6, 4)
        channels.append(0.5 + 0.25 * np.sin(a * x * 6 + b) * np.cos(c * y * 6 + d) + 0.2 * (x - y))
    arr = np.stack(channels, -1)
    for _ in range(6):  # a few solid shapes, like objects in a scene
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 0.75), rng.uniform(0.05, 0.2)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r ** 2
        arr[mask] = rng.uniform(0, 1, 3)
    arr += rng.normal(0, 0.02, arr.shape)
    return Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8), "RGB")


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _make(hasher: Union[str, type], hex_len: int, options: dict) -> Hasher:
    if isinstance(hasher, str):
        return create(hasher, hex_len=hex_len, **options)
    return hasher(hex_len=hex_len, **options)


def check_hasher(hasher: Union[str, type], *, hex_lengths: Optional[Iterable[int]] = None,
                 max_reencode_fraction: float = 0.25, raise_on_failure: bool = True,
                 **options: Any) -> ConformanceReport:
    """Check a hasher (a registered name or a Hasher subclass) against the contract.

    ``hex_lengths`` limits the lengths whose bit count is checked (default: every supported one);
    ``options`` are passed to the hasher. Raises ConformanceError listing every failure, or with
    ``raise_on_failure=False`` returns the report.
    """
    cls = hasher if isinstance(hasher, type) else None
    if cls is None:
        info = REGISTRY.lookup(hasher)
        if info.error is not None:
            report = ConformanceReport(str(hasher), failed=[f"loads: {info.error}"])
            if raise_on_failure:
                raise ConformanceError(str(report))
            return report
        cls = info.cls
    label = getattr(cls, "name", "") or getattr(cls, "__name__", str(hasher))
    report = ConformanceReport(label)

    def check(name: str, fn) -> None:
        try:
            result = fn()
        except Exception as exc:  # any crash is a failure of that check, not of the kit
            report.failed.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        if result is None or result is True:
            report.passed.append(name)
        else:
            report.failed.append(f"{name}: {result}")

    supported = sorted(getattr(cls, "hex_lengths", range(1, 257)))
    lengths = sorted(hex_lengths) if hex_lengths is not None else supported
    main_len = 16 if 16 in supported else supported[-1]
    a, b, c = sample_image(1), sample_image(2), sample_image(3)

    check("declares name, summary and api_version",
          lambda: None if (getattr(cls, "name", "") and getattr(cls, "summary", "")
                           and isinstance(getattr(cls, "api_version", None), int))
          else "set the class attributes name, summary and api_version")

    def bit_counts():
        bad = []
        for n in lengths:
            h = _make(hasher, n, options).hash(a)
            if not isinstance(h, ImageHash) or h.bit_count != 4 * n or len(str(h)) != n:
                bad.append(f"hex_len={n} gave {len(h) if isinstance(h, ImageHash) else h!r}")
        return "; ".join(bad) or None
    check(f"exact bit count at {len(lengths)} hex lengths", bit_counts)

    def unsupported():
        bad = []
        for n in [0, 257] + [k for k in range(1, 257) if k not in supported][:1]:
            try:
                _make(hasher, n, options)
                bad.append(f"hex_len={n} was accepted")
            except ValueError as exc:
                if "supported" not in str(exc):
                    bad.append(f"hex_len={n}: message does not say what is supported: {exc}")
        return "; ".join(bad) or None
    check("unsupported hex lengths raise a ValueError naming the supported ones", unsupported)

    def deterministic():
        h1 = _make(hasher, main_len, options).hash(a)
        h2 = _make(hasher, main_len, options).hash(a.copy())
        return None if h1 == h2 else f"{h1} != {h2}"
    check("deterministic", deterministic)

    def many_equals_one():
        instance = _make(hasher, main_len, options)
        many = instance.hash_many([a, b, c])
        one = [instance.hash(x) for x in (a, b, c)]
        return None if many == one else f"hash_many {list(map(str, many))} != hash {list(map(str, one))}"
    check("hash_many equals hash one by one", many_equals_one)

    def same_and_reencoded():
        instance = _make(hasher, main_len, options)
        h = instance.hash(_png(a))
        if h - instance.hash(a) != 0:
            return "the same image from PNG bytes and as a PIL image differ"
        d = h - instance.hash(_jpeg(a, 90))
        return None if d <= max_reencode_fraction * h.bit_count else \
            f"JPEG quality 90 copy is {d} of {h.bit_count} bits away (allowed {max_reencode_fraction:.0%})"
    check("distance 0 for the same image, small for a re-encoded copy", same_and_reencoded)

    def tells_images_apart():
        instance = _make(hasher, supported[-1], options)
        hashes = {str(instance.hash(x)) for x in (a, b, c)}
        return None if len(hashes) > 1 else "three different pictures all gave the same hash"
    check("different pictures give different hashes", tells_images_apart)

    def bad_input():
        instance = _make(hasher, main_len, options)
        bad = []
        for what, data in [("zero bytes", b""), ("text", b"not an image at all"),
                           ("truncated PNG", _png(a)[:200])]:
            try:
                instance.hash(data)
                bad.append(f"{what} was hashed")
            except ImageError:
                pass
            except HasherError as exc:
                bad.append(f"{what} raised HasherError, not ImageError: {exc}")
        return "; ".join(bad) or None
    check("bad input raises registry.ImageError", bad_input)

    if raise_on_failure and report.failed:
        raise ConformanceError(str(report))
    return report
