"""The contract every backend fulfils, built-in or plugin: turn one decoded image into N bits.

A hasher implements one method, :meth:`Hasher.compute`. The base class does everything a plugin
author should not have to repeat: validating ``hex_len`` and options, loading images safely,
checking the bits that come back, wrapping them in an :class:`ImageHash`, and batching.
"""
from __future__ import annotations

from typing import Any, ClassVar, Collection, Iterable, Mapping

import numpy as np
from PIL import Image

from .errors import HasherError, ImageError
from .loading import load_image
from .value import ImageHash

#: The contract version this registry implements. Bump it when the Hasher contract changes in a
#: way an older plugin could not fulfil; plugins declare the version they were written against.
API_VERSION = 1
SUPPORTED_API_VERSIONS = frozenset({1})

ALL_HEX_LENGTHS = range(1, 257)


def describe_lengths(lengths: Collection[int]) -> str:
    """Human form of a set of hex lengths: '1-256' or '64' or '16, 32, 64'."""
    if isinstance(lengths, range) and lengths.step == 1 and len(lengths) > 1:
        return f"{lengths.start}-{lengths.stop - 1}"
    return ", ".join(str(n) for n in sorted(lengths))


class Hasher:
    """Base class for hashing backends.

    Subclasses set ``name``, ``summary``, optionally ``hex_lengths`` and ``defaults`` (the options
    they accept, with default values), and implement ``compute``. After ``__init__`` an instance
    has ``hex_len``, ``bit_count`` (= 4 * hex_len) and ``options`` (defaults updated by the caller).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    api_version: ClassVar[int] = API_VERSION
    hex_lengths: ClassVar[Collection[int]] = ALL_HEX_LENGTHS
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: The PIL mode ``compute`` works in ("L" for the classical hashes), or None for the loader's
    #: L/RGB as they come. ``load`` converts to it, and registry.hash_all converts once per mode for
    #: all the hashers that share it.
    input_mode: ClassVar[str | None] = None
    #: Normalised Hamming distance up to which two images count as "the same picture, slightly
    #: changed", used by registry.compare when no calibrated threshold exists for this backend.
    similar_threshold: ClassVar[float] = 0.15

    def __init__(self, hex_len: int = 16, **options: Any):
        label = self.name or type(self).__name__
        if isinstance(hex_len, bool) or not isinstance(hex_len, (int, np.integer)):
            raise ValueError(f"hex_len must be an integer, got {hex_len!r}")
        if int(hex_len) not in self.hex_lengths:
            raise ValueError(f"hasher {label!r} does not support hex_len={hex_len}; "
                             f"supported: {describe_lengths(self.hex_lengths)}")
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            allowed = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"hasher {label!r} got unknown option(s) {', '.join(unknown)}; "
                             f"allowed: {allowed}")
        self.hex_len = int(hex_len)
        self.bit_count = 4 * self.hex_len
        self.options: dict[str, Any] = {**self.defaults, **options}

    # --- what subclasses implement -----------------------------------------------------------
    def compute(self, image: Image.Image) -> np.ndarray:
        """Return ``self.bit_count`` booleans for a decoded ``L`` or ``RGB`` image."""
        raise NotImplementedError

    def compute_many(self, images: list[Image.Image]) -> list[np.ndarray]:
        """Override to batch (the deep hasher does); must equal ``compute`` one by one."""
        return [self.compute(img) for img in images]

    @property
    def identity(self) -> dict[str, Any]:
        """Options that change the bits; stored in every hash so mismatches never compare."""
        return dict(self.options)

    @property
    def draft_size(self) -> int | None:
        """Smallest image side this hasher needs, when it allows reduced-scale JPEG decoding."""
        return None

    def load(self, src: Any) -> Image.Image:
        """Decode a source the way this hasher wants it: full size or a JPEG draft, in ``input_mode``."""
        image = load_image(src, draft=self.draft_size)
        mode = self.input_mode
        return image if mode is None or image.mode == mode else image.convert(mode)

    @property
    def shape(self) -> tuple[int, int] | None:
        """(rows, cols) to display the bits as a grid; None means the most square layout."""
        return None

    # --- what everybody calls ----------------------------------------------------------------
    def hash(self, src: Any) -> ImageHash:
        """Hash one image (path, bytes, binary file, PIL image or uint8 array)."""
        return self.hash_image(self.load(src))

    def hash_image(self, image: Image.Image) -> ImageHash:
        """Hash an image that ``load`` (or registry.load_image) already decoded, without decoding again."""
        return self._wrap(self._call(self.compute, image))

    def hash_many(self, srcs: Iterable[Any], *, errors: str = "raise",
                  progress: bool = False, batch_size: int = 32, workers: int = 1) -> list:
        """Hash many images; equal to ``[self.hash(s) for s in srcs]``.

        With ``errors="return"`` an unreadable image yields its ImageError, and an image the
        hasher fails on its HasherError, in place of a hash instead of aborting the batch.
        ``workers=N`` spreads large batches over N processes (each re-creates the hasher through
        the registry, so it must be a registered backend); ``progress=True`` shows a bar on stderr.
        """
        if errors not in ("raise", "return"):
            raise ValueError("errors must be 'raise' or 'return'")
        srcs = list(srcs)
        if workers > 1 and len(srcs) > batch_size:
            from .batch import hash_many_parallel
            return hash_many_parallel(self, srcs, workers, errors, progress)
        results: list = [None] * len(srcs)
        bar = _progress(len(srcs), progress, self.name)
        try:
            for start in range(0, len(srcs), max(1, batch_size)):
                chunk = range(start, min(start + batch_size, len(srcs)))
                images, where = [], []
                for i in chunk:
                    try:
                        images.append(self.load(srcs[i]))
                        where.append(i)
                    except ImageError as exc:
                        if errors == "raise":
                            raise
                        results[i] = exc
                if images:
                    try:
                        outs = self._call(self.compute_many, images)
                        if len(outs) != len(images):
                            raise HasherError(f"hasher {self.name!r} returned {len(outs)} results "
                                              f"for {len(images)} images")
                        for i, bits in zip(where, outs):
                            results[i] = self._wrap(bits)
                    except HasherError:
                        if errors == "raise":
                            raise
                        # Find which images the hasher cannot do; the others still get their hash.
                        for i, img in zip(where, images):
                            try:
                                results[i] = self.hash_image(img)
                            except HasherError as exc:
                                results[i] = exc
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return results

    # --- internals ---------------------------------------------------------------------------
    def _call(self, fn, arg):
        try:
            return fn(arg)
        except (ImageError, HasherError):
            raise
        except Exception as exc:
            raise HasherError(f"hasher {self.name!r} failed: {type(exc).__name__}: {exc}") from exc

    def _wrap(self, bits: Any) -> ImageHash:
        arr = np.asarray(bits)
        if arr.dtype != np.bool_:
            if np.issubdtype(arr.dtype, np.integer) and np.isin(arr, (0, 1)).all():
                arr = arr.astype(bool)
            else:
                raise HasherError(f"hasher {self.name!r} returned {arr.dtype} values; "
                                  "compute() must return booleans")
        arr = arr.reshape(-1)
        if arr.size != self.bit_count:
            raise HasherError(f"hasher {self.name!r} returned {arr.size} bits for hex_len="
                              f"{self.hex_len}; expected {self.bit_count}")
        return ImageHash(arr, self.name, self.identity, self.shape)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(hex_len={self.hex_len}{opts})"


def _progress(total: int, enabled: bool, name: str):
    if not enabled or total < 2:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=f"hashing ({name})", unit="img", file=None, leave=False)
