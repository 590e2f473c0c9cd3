"""The contract every backend fulfils, built-in or plugin: turn one decoded image into N bits.

A hasher implements one method, :meth:`Hasher.compute`. The base class does everything a plugin
author should not have to repeat: validating ``hex_len`` and options, loading images safely,
checking the bits that come back, wrapping them in an :class:`ImageHash`, and batching.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
from concurrent.futures import ThreadPoolExecutor
import json
from typing import Any, Callable, ClassVar, Collection, Iterable, Iterator, Mapping, Optional

import numpy as np
from PIL import Image

from .colour import colour_thumbnail, signature, thumbnail_detail, turned_thumbnails
from .errors import HasherError, ImageError
from .loading import load_image
from .results import HashResult
from .value import ImageHash

#: The contract version this registry implements. Bump it when the Hasher contract changes in a
#: way an older plugin could not fulfil; plugins declare the version they were written against.
API_VERSION = 1
SUPPORTED_API_VERSIONS = frozenset({1})

ALL_HEX_LENGTHS = range(1, 257)

#: The eight orientations of :meth:`Hasher.hash_dihedral`, in its order: the image turned
#: counter-clockwise by 0, 90, 180 and 270 degrees, then its mirror image (left and right swapped)
#: turned the same ways. "transpose" is the mirror turned by 90 degrees (rows become columns), "flip"
#: the mirror turned by 180 (upside down), "transverse" the mirror turned by 270.
DIHEDRAL: tuple[str, ...] = ("identity", "rot90", "rot180", "rot270", "mirror", "transpose", "flip",
                             "transverse")
_T = Image.Transpose
DIHEDRAL_OPS: dict[str, Optional[Image.Transpose]] = {
    "identity": None, "rot90": _T.ROTATE_90, "rot180": _T.ROTATE_180, "rot270": _T.ROTATE_270,
    "mirror": _T.FLIP_LEFT_RIGHT, "transpose": _T.TRANSPOSE, "flip": _T.FLIP_TOP_BOTTOM,
    "transverse": _T.TRANSVERSE}


def orient(image: Image.Image, orientation: str) -> Image.Image:
    """``image`` in one of the :data:`DIHEDRAL` orientations (an exact pixel permutation)."""
    op = DIHEDRAL_OPS[orientation]
    return image if op is None else image.transpose(op)


def describe_lengths(lengths: Collection[int]) -> str:
    """Human form of a set of hex lengths: '1-256' or '64' or '16, 32, 64'."""
    if isinstance(lengths, range) and lengths.step == 1 and len(lengths) > 1:
        return f"{lengths.start}-{lengths.stop - 1}"
    return ", ".join(str(n) for n in sorted(lengths))


@dataclasses.dataclass(frozen=True)
class Computed:
    """What ``compute`` may return instead of bare bits: the bits and the hasher's own detail score.

    ``detail`` says how much detail the hasher had to work with (for the classical hashes, the mean
    gradient of the thumbnail they threshold, in gray levels). Without it the base class measures a
    16 x 16 grayscale thumbnail of the image.
    """

    bits: Any
    detail: Optional[float] = None


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
    #: The extra (a key of registry.optional.EXTRAS, e.g. "deep") whose packages this backend
    #: imports lazily; discovery lists the backend as unusable, with the install command, when
    #: they are missing. Plugins declare their dependencies in their own package instead.
    extra: ClassVar[Optional[str]] = None
    #: Chunks that ``iter_hashes`` decodes ahead in a background thread while one computes (0: none).
    #: Worth it when ``compute_many`` releases the GIL for long (a neural network), not for the
    #: classical hashes, whose cost is the decode itself.
    prefetch: ClassVar[int] = 0

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

    @property
    def fast_draft_size(self) -> int | None:
        """The ``draft_size`` this hasher would have with its ``fast`` option on: the reduced picture it
        declares acceptable (video frames are scaled down to it). A backend that knows its own formula
        overrides this; the default asks a twin with ``fast=True``, or says None (full size)."""
        if self.draft_size is not None or "fast" not in getattr(type(self), "defaults", {}):
            return self.draft_size
        try:
            return type(self)(hex_len=self.hex_len, **{**self.options, "fast": True}).draft_size
        except Exception:  # a plugin whose fast twin cannot be made: full size
            return None

    def decode(self, src: Any) -> Image.Image:
        """Decode a source as this hasher wants it (full size or a JPEG draft), as L or RGB."""
        return load_image(src, draft=self.draft_size)

    def prepare(self, image: Image.Image) -> Image.Image:
        """A decoded image in ``input_mode``, ready for ``compute``."""
        mode = self.input_mode
        return image if mode is None or image.mode == mode else image.convert(mode)

    def load(self, src: Any) -> Image.Image:
        """Decode a source the way this hasher wants it: full size or a JPEG draft, in ``input_mode``."""
        return self.prepare(self.decode(src))

    @property
    def shape(self) -> tuple[int, int] | None:
        """(rows, cols) to display the bits as a grid; None means the most square layout."""
        return None

    # --- what everybody calls ----------------------------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        """A plain, JSON-ready dict that re-creates this hasher anywhere: ``create(**spec)``.

        A manifest header, a process-pool worker and a Ray actor all rebuild hashers from it, so it
        holds the backend's name, the length and every option, and nothing that only lives here.
        """
        spec = {"name": self.name, "hex_len": self.hex_len, **self.options}
        try:
            return json.loads(json.dumps(spec))
        except (TypeError, ValueError) as exc:
            raise HasherError(f"hasher {self.name!r} has options that are not JSON-ready "
                              f"({exc}); it cannot be re-created in another process") from None

    @classmethod
    def option_choices(cls) -> dict[str, list[tuple[str, Any]]]:
        """Values of options that a menu may offer, as (label, value), limited to what runs here.

        The app builds its option widgets from this instead of knowing backends by name. Empty
        when the backend has nothing to choose beyond the length.
        """
        return {}

    def hash(self, src: Any) -> ImageHash:
        """Hash one image (path, bytes, binary file, PIL image or uint8 array)."""
        image = self.decode(src)
        return self.hash_image(self.prepare(image), colour=signature(image))

    def hash_image(self, image: Image.Image, *, colour: Optional[str] = None) -> ImageHash:
        """Hash an image that ``load`` (or registry.load_image) already decoded, without decoding again.

        ``colour`` is the colour signature of the image as decoded, before ``prepare`` turned it to
        grayscale for a classical hash; without it, it is taken from ``image``.
        """
        return self._wrap(self._call(self.compute, image), image, colour)

    def hash_dihedral(self, src: Any) -> list[ImageHash]:
        """The hashes of the image in the 8 orientations of :data:`DIHEDRAL`, identity first.

        The bits of each equal ``hash_image(prepare(orient(decode(src), name)))``: the hash of that
        turned or mirrored image, decoded once. Turning the decoded image is an exact permutation of
        its pixels, so no bit is approximated; the cost is one decode plus eight ``compute`` calls,
        made as one ``compute_many`` batch (one forward pass for the deep hash). The colour
        signatures that travel with the hashes (for verdicts, not bits) come from turning the image's
        colour thumbnails.
        """
        image = self.decode(src)
        if type(self).prepare is Hasher.prepare:   # a mode conversion, pixel by pixel: convert once
            base = self.prepare(image)
            prepared = [orient(base, name) for name in DIHEDRAL]
        else:
            prepared = [self.prepare(orient(image, name)) for name in DIHEDRAL]
        outs = self._call(self.compute_many, prepared)
        if len(outs) != len(prepared):
            raise HasherError(f"hasher {self.name!r} returned {len(outs)} results for {len(prepared)} images")
        # The colour signature is two thumbnails' statistics: turn the thumbnails, not the image.
        turned = turned_thumbnails(colour_thumbnail(image), image, [DIHEDRAL_OPS[name] for name in DIHEDRAL])
        return [self._wrap(out, img, signature(thumb)) for out, img, thumb in zip(outs, prepared, turned)]

    def hash_pair(self, image_a: Image.Image, image_b: Image.Image
                  ) -> tuple[ImageHash, ImageHash, Optional[float]]:
        """Hash two decoded images for a comparison: (hash_a, hash_b, cosine or None).

        An optional capability: a backend with float features (the deep hash) overrides it to
        compute both in one pass and return the cosine similarity of those features, which
        registry.compare reports beside the Hamming distance. The default hashes each image.
        """
        return self.hash_image(image_a), self.hash_image(image_b), None

    def iter_hashes(self, sources: Iterable[Any], *, batch_size: int = 32) -> Iterator[HashResult]:
        """Hash sources lazily, in input order: one HashResult per source, as soon as it is known.

        This is the one stream every bulk path reads (``hash_many``, the engines, the CLI, the app),
        so a consumer can write results while hashing goes on. Sources are read ``batch_size`` at a
        time and handed to ``compute_many`` together; an unreadable image, or an image the hasher
        fails on, becomes a record with its error and the others in its batch are still hashed.
        """
        batch_size = max(1, int(batch_size))
        iterator = iter(sources)
        chunks = iter(lambda: list(itertools.islice(iterator, batch_size)), [])
        if not self.prefetch:
            index = 0
            for chunk in chunks:
                yield from self._compute_chunk(self._load_chunk(index, chunk))
                index += len(chunk)
            return
        # Decode the next chunk in a thread while this one computes: Pillow's decoders and ONNX
        # Runtime release the GIL, so a deep hasher's model never waits for JPEG decoding.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="idh-prefetch") as pool:
            pending: collections.deque = collections.deque()
            index = 0
            for chunk in chunks:
                pending.append(pool.submit(self._load_chunk, index, chunk))
                index += len(chunk)
                if len(pending) > self.prefetch:
                    yield from self._compute_chunk(pending.popleft().result())
            while pending:
                yield from self._compute_chunk(pending.popleft().result())

    def hash_many(self, srcs: Iterable[Any], *, errors: str = "raise",
                  progress: bool = False, batch_size: int = 32, workers: int = 1) -> list:
        """Hash many images; equal to ``[self.hash(s) for s in srcs]``.

        With ``errors="return"`` an unreadable image yields its ImageError, and an image the
        hasher fails on its HasherError, in place of a hash instead of aborting the batch.
        ``workers=N`` spreads large batches over N processes (each re-creates the hasher from
        ``spec``, so it must be a registered backend); ``progress=True`` shows a bar on stderr.
        A thin layer over :meth:`iter_hashes` (or the process engine's stream of the same records).
        """
        if errors not in ("raise", "return"):
            raise ValueError("errors must be 'raise' or 'return'")
        srcs = list(srcs)
        if workers > 1 and len(srcs) > batch_size:
            stream = ENGINES["process"](self.spec, srcs, workers=workers)
        else:
            stream = self.iter_hashes(srcs, batch_size=batch_size)
        results: list = []
        with progress_bar(len(srcs), progress, self.name) as bar:
            for record in stream:
                if record.error is not None and errors == "raise":
                    raise record.error
                results.append(record.hash if record.error is None else record.error)
                bar.update(1)
        return results

    # --- internals ---------------------------------------------------------------------------
    def _load_chunk(self, start: int, chunk: list) -> list:
        """(index, source, prepared image or its ImageError, (colour signature, detail)) for each source.

        The colour signature and the fallback detail score share one 16 x 16 thumbnail (shrinking
        a 12 Mpx photo twice cost ~9 ms each time); the detail only where ``prepare`` changed nothing,
        so it is exactly the prepared image's. ``None`` detail: ``_wrap`` computes it if needed.
        """
        loaded = []
        for k, src in enumerate(chunk):
            try:
                image = self.decode(src)
                prepared = self.prepare(image)
                thumb = colour_thumbnail(image)
                detail = thumbnail_detail(thumb.small) if prepared is image else None
                loaded.append((start + k, src, prepared, (signature(thumb), detail)))
            except ImageError as exc:
                loaded.append((start + k, src, exc, None))
        return loaded

    def _compute_chunk(self, loaded: list) -> list[HashResult]:
        good = [(img, quality) for _, _, img, quality in loaded if not isinstance(img, ImageError)]
        hashes: list = []
        if good:
            try:
                outs = self._call(self.compute_many, [img for img, _ in good])
                if len(outs) != len(good):
                    raise HasherError(f"hasher {self.name!r} returned {len(outs)} results "
                                      f"for {len(good)} images")
                hashes = [self._wrap(out, img, colour, detail_hint=detail)
                          for out, (img, (colour, detail)) in zip(outs, good)]
            except HasherError:
                # Find which images the hasher cannot do; the others still get their hash.
                hashes = []
                for img, (colour, _) in good:
                    try:
                        hashes.append(self.hash_image(img, colour=colour))
                    except HasherError as exc:
                        hashes.append(exc)
        done = iter(hashes)
        records = []
        for index, src, img, _ in loaded:
            out = img if isinstance(img, ImageError) else next(done)
            records.append(HashResult(index, src, error=out) if isinstance(out, (ImageError, HasherError))
                           else HashResult(index, src, hash=out))
        return records

    def _call(self, fn, arg):
        try:
            return fn(arg)
        except (ImageError, HasherError):
            raise
        except Exception as exc:
            raise HasherError(f"hasher {self.name!r} failed: {type(exc).__name__}: {exc}") from exc

    def _wrap(self, out: Any, image: Optional[Image.Image] = None, colour: Optional[str] = None,
              detail_hint: Optional[float] = None) -> ImageHash:
        detail = None
        if isinstance(out, Computed):
            out, detail = out.bits, out.detail
        arr = np.asarray(out)
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
        if detail is None and detail_hint is not None:
            detail = detail_hint
        if image is not None:
            if detail is None:
                detail = thumbnail_detail(image)
            if colour is None:
                colour = signature(image)
        return ImageHash(arr, self.name, self.identity, self.shape, detail=detail, colour=colour)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(hex_len={self.hex_len}{opts})"


class _NoBar:
    def update(self, n: int) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool, name: str):
    """A tqdm bar on stderr when asked for and worth it (two or more images), else a no-op."""
    if not enabled or total < 2:
        yield _NoBar()
        return
    from tqdm import tqdm
    with tqdm(total=total, desc=f"hashing ({name})", unit="img", leave=False) as bar:
        yield bar


#: Engines that run ``(spec, sources)`` elsewhere and stream HashResults back, by name. The
#: contract knows them only by name: registry.engines fills this table when the package loads,
#: so ``hash_many(workers=N)`` can use the process pool without this module importing it.
ENGINES: dict[str, Callable[..., Iterator[HashResult]]] = {}


def register_engine(name: str, run: Callable[..., Iterator[HashResult]]) -> None:
    ENGINES[name] = run
