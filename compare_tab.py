"""The compare tab's handlers: plain functions that take widget values and return widget values.

demo.py lays the page out and wires these to its widgets; tests call them directly, without a
browser. No handler branches on a backend's name: the menus come from ``registry.available()`` and
each backend's ``option_choices()``. User errors are raised as ``gr.Error`` with one line in the
server log and no traceback; the validators (``check_pair``, ``check_images``) answer missing inputs
at the input concerned, before any work.
"""
from __future__ import annotations

import functools
import html
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import gradio as gr

import registry
from registry import HasherError, ImageError
from registry.comparison import ORIENTATION_WORDS
from registry.drawing import bit_grids, blend_and_difference
from registry.hasher import orient

log = logging.getLogger("image_deep_hash.app")

DEFAULT_BACKEND = "phash"
DEFAULT_HEX_LEN = 16
#: The option a backend may offer a menu for (see ``Hasher.option_choices``).
MENU_OPTION = "model"
#: Below this many bits, unrelated images often share a hash: the verdict comes with a warning.
FEW_BITS = 16
#: Menu labels for the built-ins; a plugin shows its own ``label`` attribute, else its name.
LABELS = {"ahash": "aHash", "phash": "pHash", "dhash": "dHash", "timm": "deep (timm)"}
TABLE_HEADERS = ["backend", "hash A", "hash B", "distance", "bits", "similarity %", "verdict"]
LENGTH_INFO = "1 hex digit = 4 bits; 16 is the usual choice"
PLACEHOLDER = ("<div class='verdict-empty'>Click an example above, or add two images and press "
               "<b>Compare</b>.</div>")

try:  # On Hugging Face ZeroGPU Spaces, GPU work must run inside spaces.GPU; elsewhere a no-op.
    import spaces
    gpu = spaces.GPU
except ImportError:  # pragma: no cover - depends on the host
    def gpu(fn):
        return fn


# --- what the menus offer ----------------------------------------------------------------------
def usable() -> list:
    return [i for i in registry.available() if i.error is None]


def label(info) -> str:
    return getattr(info.cls, "label", None) or LABELS.get(info.name, info.name)


def backend_choices() -> list[tuple[str, str]]:
    """(short label, name) of every backend that can run here, e.g. ("pHash", "phash")."""
    return [(label(i), i.name) for i in usable()]


def find(backend: str):
    """The usable backend of this name, or None."""
    return next((i for i in usable() if i.name == backend), None)


def backend_info(backend: str):
    info = find(backend)
    if info is None:
        raise gr.Error(f"Unknown backend {backend!r}. Choose one from the list.")
    return info


def summary(backend: str) -> str:
    info = find(backend)
    return info.summary if info else ""


def unusable_markdown() -> str:
    """The backends that are installed but cannot run here, each with what it needs."""
    broken = [i for i in registry.available() if i.error is not None]
    if not broken:
        return "Every installed backend can run on this server."
    items = "".join(f"<li><b>{html.escape(i.name)}</b> ({html.escape(i.origin)}): "
                    f"{html.escape(i.error)}</li>" for i in broken)
    return f"<ul>{items}</ul>"


def menu_choices(backend: str) -> list[tuple[str, Any]]:
    """The values of the menu option this backend offers, limited to what runs on this server."""
    info = find(backend)
    return list(info.cls.option_choices().get(MENU_OPTION, [])) if info else []


def all_menu_choices() -> list[tuple[str, Any]]:
    """Every backend's menu values together: the menu's first choices, before a backend is picked."""
    seen: dict[Any, str] = {}
    for info in usable():
        for text, value in info.cls.option_choices().get(MENU_OPTION, []):
            seen.setdefault(value, text)
    return [(text, value) for value, text in seen.items()]


def menu_update(backend: str, current: Any = None) -> dict:
    """Show the menu with this backend's choices, or hide it (keeping its value) if it has none."""
    choices = menu_choices(backend)
    if not choices:
        return gr.update(visible=False)
    values = [v for _, v in choices]
    return gr.update(choices=choices, value=current if current in values else values[0], visible=True)


def on_backend_change(backend: str, hex_len, current_option=None):
    """The summary under the menu, the lengths it takes (the slider moves only if it must), its menu."""
    info = backend_info(backend)
    lengths = sorted(info.hex_lengths)
    note = "" if len(lengths) == 256 else f"; {label(info)} takes {info.hex_lengths_text} only"
    slider = {"info": f"{LENGTH_INFO}{note}"}
    if int(hex_len) not in info.hex_lengths:
        slider["value"] = min(lengths, key=lambda n: abs(n - int(hex_len)))
    return gr.update(**slider), gr.update(info=info.summary), menu_update(backend, current_option)


# --- checks --------------------------------------------------------------------------------------
def user_errors(fn):
    """Turn every failure a user can cause into one readable message, logged as one line."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as exc:
            message = exc.message
        except ImageError as exc:
            message = f"Unreadable image: {exc}"
        except (HasherError, ValueError) as exc:
            message = str(exc)
        except MemoryError:
            message = "Out of memory: try a smaller image."
        except Exception as exc:  # a plugin's bug must not take the app down
            message = f"Unexpected error: {type(exc).__name__}: {exc}"
        raise refuse(fn.__name__, message) from None
    return wrapper


def refuse(action: str, message: str) -> gr.Error:
    """A gr.Error for the user, logged as one line instead of Gradio's traceback."""
    log.warning("image-deep-hash: %s refused: %s", action, " ".join(str(message).split()))
    return gr.Error(message, print_exception=False)


def _hex_len(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise gr.Error(f"Hex length must be a whole number, got {value!r}.") from None


def _options(info, option) -> dict[str, Any]:
    """The backend's menu option, checked against what it offers (never a name or path from a user)."""
    choices = [v for _, v in info.cls.option_choices().get(MENU_OPTION, [])]
    if not choices or option in (None, ""):
        return {}
    if option not in choices:
        raise gr.Error(f"unknown {info.name} {MENU_OPTION} {option!r}: choose one from the list.")
    return {MENU_OPTION: option}


def make_hasher(backend: str, hex_len, option=None):
    info = backend_info(backend)
    return registry.create(backend, hex_len=_hex_len(hex_len), **_options(info, option))


def load(image, name: str):
    if image is None:
        raise gr.Error(_missing(image, name))
    try:
        return registry.load_image(image)
    except ImageError as exc:  # name the upload, not where the server keeps it
        message = str(exc)
        if isinstance(image, str):
            message = message.replace(f"'{image}'", f"'{Path(image).name}'")
        raise gr.Error(f"{name[0].upper()}{name[1:]} is unreadable: {message}") from None


def _missing(image, name: str) -> Optional[str]:
    return f"Please add {name} first." if image is None else None


def _validations(action: str, problems: list[Optional[str]]) -> list[dict]:
    for problem in filter(None, problems):
        log.warning("image-deep-hash: %s refused: %s", action, problem)
    return [gr.validate(p is None, p or "") for p in problems]


def check_pair(image_a, image_b, backend, hex_len, option=None, dihedral=False) -> list[dict]:
    """Validator for /compare: says which input is missing or wrong, at that input, before any work."""
    problems = [_missing(image_a, "image A"), _missing(image_b, "image B"), None, None, None, None]
    info = find(backend)
    if info is None:
        problems[2] = f"Unknown backend {backend!r}. Choose one from the list."
    elif not isinstance(hex_len, (int, float)) or int(hex_len) not in info.hex_lengths:
        problems[3] = f"{label(info)} takes hex lengths {info.hex_lengths_text}."
    else:
        try:
            _options(info, option)
        except gr.Error as exc:
            problems[4] = exc.message
    return _validations("compare", problems)


def check_images(image_a, image_b, hex_len=None) -> list[dict]:
    """Validator for /compare_all: both images are there."""
    return _validations("compare_all", [_missing(image_a, "image A"), _missing(image_b, "image B"), None])


# --- the verdict -----------------------------------------------------------------------------------
#: Colour and mark of each verdict; one the registry adds later is shown in gray with a "•".
VERDICT_STYLE = {"identical": ("#15803d", "✔"), "similar": ("#1d4ed8", "≈"),
                 "recoloured": ("#7e22ce", "◐"), "edited": ("#be185d", "✎"), "uncertain": ("#b45309", "?"),
                 "different": ("#b91c1c", "✘")}
OTHER_STYLE = ("#4b5563", "•")
FEW_BITS_STYLE = ("#b45309", "⚠")


def few_bits_warning(bits: int) -> Optional[str]:
    if bits >= FEW_BITS:
        return None
    return (f"At {bits} bits, unrelated images often share a hash, so this says little. Use at least "
            f"{FEW_BITS // 4} hex digits ({FEW_BITS} bits); 16 digits is the usual choice.")


def verdict_html(result) -> str:
    """The verdict in plain words with the distance behind it; for very short hashes, a warning instead."""
    warning = few_bits_warning(result.bits)
    if warning:
        colour, mark = FEW_BITS_STYLE
        what = ("are identical" if result.distance == 0
                else f"differ in {result.distance} of {result.bits} bits")
        headline = f"{mark} Too few bits to tell: the hashes {what}"
        warning = f"<div id='few_bits'>{html.escape(warning)}</div>"
    else:
        colour, mark = VERDICT_STYLE.get(result.verdict, OTHER_STYLE)
        headline, warning = f"{mark} {html.escape(result.verdict_text)}", ""
    cosine = (f"<div>Cosine similarity of the embeddings: <b>{result.cosine:.3f}</b></div>"
              if result.cosine is not None else "")
    detail = ""
    if result.hash_a.detail is not None and result.hash_b.detail is not None:
        low = " (too little for the hash to tell)" if result.low_detail else ""
        detail = (f"<div id='detail' data-low='{str(result.low_detail).lower()}'>Detail: "
                  f"<b>{result.hash_a.detail:.1f}</b> and <b>{result.hash_b.detail:.1f}</b>{low}</div>")
    if result.orientation not in (None, "identity"):
        detail += (f"<div id='orientation' data-orientation='{result.orientation}'>B matched when "
                   f"<b>{html.escape(ORIENTATION_WORDS[result.orientation])}</b></div>")
    changes = (f"<div id='changes'>Colours: <b>{html.escape(', '.join(result.changes))}</b></div>"
               if result.changes else "")
    same = ("<div>Same picture: <b>" + ("yes" if result.same_picture else "no") + "</b> · fetch again: <b id='fetch'>"
            + ("yes" if result.fetch_again else "no") + "</b></div>")
    cosine = same + detail + changes + cosine
    return (f"<div id='verdict' data-verdict='{result.verdict}' data-bits='{result.bits}' "
            f"style='border-left:6px solid {colour};padding:8px 14px'>"
            f"<div class='headline' style='color:{colour}'><b>{headline}</b></div>{warning}"
            f"<div>Hamming distance <b id='distance'>{result.distance}</b> of {result.bits} bits · "
            f"similarity <b>{result.similarity:.1%}</b> · "
            f"“slightly changed” up to {result.threshold:.0%} of bits differing</div>{cosine}</div>")


#: The app's upload limit, as Gradio reads it ("20mb"); every tab states this one.
MAX_FILE_SIZE = os.environ.get("IMAGE_DEEP_HASH_MAX_UPLOAD", "20mb")


# --- output pictures -------------------------------------------------------------------------------
#: Where result pictures are written before Gradio copies them to its cache; pruned after 10 minutes.
PICTURES = Path(tempfile.gettempdir()) / "image-deep-hash-pictures"


def picture_file(img, photo: bool = False) -> str:
    """A file of its own for one result picture: lossless PNG, or JPEG where ``photo`` says it is one.

    Gradio 6 caches a PIL output under a name derived from its content and rewrites that file in
    place, so two requests with the same blend (the same pair under two backends) could truncate a
    picture a third request is downloading. A file of our own per request is copied safely.
    Encoding is a large share of a compare (Pillow's default PNG level took 30-40 ms a picture), so
    PNGs use the fastest level (a few percent larger) and a blended photo goes as JPEG (under 1 ms,
    a seventh of the bytes to copy and download); the difference and bit grids stay exact.
    """
    PICTURES.mkdir(exist_ok=True)
    _prune_pictures()
    fd, path = tempfile.mkstemp(suffix=".jpg" if photo else ".png", dir=PICTURES)
    with os.fdopen(fd, "wb") as fh:
        if photo:
            img.convert("RGB").save(fh, "JPEG", quality=90, subsampling=0)
        else:
            img.save(fh, "PNG", compress_level=1)
    return path


_last_prune = 0.0


def _prune_pictures() -> None:
    """Remove result pictures older than 10 minutes, looking at most once a minute (a directory
    listing per picture cost more than the picture once the folder held a few hundred)."""
    global _last_prune
    now = time.time()
    if now - _last_prune < 60:
        return
    _last_prune = now
    for old in PICTURES.glob("*.*"):
        try:
            if old.stat().st_mtime < now - 600:
                old.unlink()
        except OSError:
            pass


# --- the actions (also the API) --------------------------------------------------------------------
@gpu
@user_errors
def hash_image(image, backend: str = DEFAULT_BACKEND, hex_len: float = DEFAULT_HEX_LEN,
               model: Optional[str] = None) -> str:
    """Hash one image; returns the hex string."""
    return _hash(image, backend, hex_len, model)


def _hash(image, backend, hex_len, model) -> str:
    hasher = make_hasher(backend, hex_len, model)
    return str(hasher.hash(load(image, "the image")))


@gpu
@user_errors
def rehash(image, backend: str = DEFAULT_BACKEND, hex_len: float = DEFAULT_HEX_LEN,
           model: Optional[str] = None) -> str:
    """The hash of an image already on the page under new settings; nothing while there is none."""
    return "" if image is None else _hash(image, backend, hex_len, model)


@gpu
@user_errors
def compare_images(image_a, image_b, backend: str = DEFAULT_BACKEND, hex_len: float = DEFAULT_HEX_LEN,
                   model: Optional[str] = None, dihedral: bool = False):
    """Compare two images: both hashes, the verdict, a JSON summary, the bit grids, blend and difference.

    ``dihedral``: also find B turned by a multiple of 90 degrees or mirrored; the pictures then show
    B in the orientation that matched.
    """
    img_a, img_b = load(image_a, "image A"), load(image_b, "image B")
    hasher = make_hasher(backend, hex_len, model)
    result = registry.compare_with(hasher, img_a, img_b, dihedral=bool(dihedral))
    if result.orientation is not None:
        img_b = orient(img_b, result.orientation)
    blend, difference = blend_and_difference(img_a, img_b)
    summary = result.to_dict()
    if MENU_OPTION in hasher.options and menu_choices(backend):
        summary[MENU_OPTION] = hasher.options[MENU_OPTION]
    if few_bits_warning(result.bits):
        summary["warning"] = few_bits_warning(result.bits)
    return (str(result.hash_a), str(result.hash_b), verdict_html(result), summary,
            picture_file(bit_grids(result.hash_a, result.hash_b)), picture_file(blend, photo=True),
            picture_file(difference))


@gpu
@user_errors
def compare_all(image_a, image_b, hex_len: float = DEFAULT_HEX_LEN):
    """The pair under every backend at once (each at this length if it supports it)."""
    img_a, img_b = load(image_a, "image A"), load(image_b, "image B")
    n = _hex_len(hex_len)
    rows = []
    for info in usable():
        if n not in info.hex_lengths:
            rows.append([info.name, "", "", None, None, None, f"n/a: supports {info.hex_lengths_text}"])
            continue
        try:
            r = registry.compare_with(registry.create(info.name, hex_len=n), img_a, img_b)
            verdict = r.verdict + (" (too few bits to tell)" if few_bits_warning(r.bits) else "")
            rows.append([info.name, str(r.hash_a), str(r.hash_b), r.distance, r.bits,
                         round(100 * r.similarity, 1), verdict])
        except (HasherError, ValueError) as exc:  # one broken plugin must not hide the others
            rows.append([info.name, "", "", None, None, None, f"error: {exc}"])
    return rows


def warm_up() -> None:
    """Create each backend once, so that the first visitor does not wait for a model to load."""
    for info in usable():
        try:
            registry.create(info.name)
        except Exception:  # the app reports it when a user picks that backend
            pass
