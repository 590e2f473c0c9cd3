"""The verdict, measured: does "keep it / fetch it again" hold where the hash alone cannot tell?

    python benchmarks/verdicts.py --photos ../shared/photos            # evaluate (writes results.json/.md)
    python benchmarks/verdicts.py --calibrate --record record720.json  # fit the limits (thresholds.json)

(the shipped limits were fitted on the 720-photo corpus record:
``git show b0cd78b:benchmarks/corpus_sources.json > record720.json``; without ``--record`` the
current record's fit split is drawn from, which picks other photos)

The hash distance says whether two images are the same picture; the verdict (registry.comparison.judge)
adds what the hash is blind to: too little detail for the distance to mean anything, and colour or tone
changes that re-encoding never makes. This benchmark scores it at 64 bits (hex_len 16), per backend,
against the old rule (the distance alone, ``Comparison.same_picture``):

(a) pairs of *different* low-detail images kept (fetch_again False): solid colours, gradients, text
    snippets on white, pages of text, icons and shapes, UI-like screenshots and near-flat textures,
    all drawn with Pillow, plus real icons and documentation screenshots from freely licensed Debian
    packages (downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x``, never installed;
    package, version and licence are recorded);
(b) JPEG-50 and 1/2-rescaled copies of those low-detail images called ``different`` (``uncertain`` is
    allowed: it fetches again, to be safe);
(c) colour-edited copies of photos kept: inverted, red and blue swapped, hue turned 180 degrees,
    grayscale, brightness +50% and -50%, saturation -30% and +30% (no goal; shown);
(d) JPEG-50 copies of photos kept, beside the old rule's rate; and rescaled and JPEG q75 4:2:0 copies,
    to show the colour checks stay quiet on re-encoding;
(e) what the detail score and the colour signature cost per image, beside the hash itself.

Every image is hashed once per backend with ``hasher.hash_many`` (which fills the detail score and the
colour signature) and pairs are judged with ``registry.comparison.compare_hashes``. The deep backend runs
at about 20-30 images/s on a small CPU, so it sees every low-detail image but only a subsample of the
copies and photos (the output says which).

``--calibrate`` fits the limits the verdict reads from ``registry/data/thresholds.json`` on data this
evaluation never scores: the same synthetic family drawn with another seed, other words and colours,
real icons and screenshots from *other* packages, and photos of the fitting corpus's ``fit`` split
(``benchmarks/corpus.py``; never ``../shared/photos``). It writes ``min_detail`` per backend and length
(16 and 64), the ``colour`` limits, ``low_detail.layout_different`` and ``fine_layout.limit`` beside the ``similar`` thresholds
of ``benchmarks/calibrate_thresholds.py``, leaving every other key alone, with its provenance under
``verdicts_calibration``; it also reports how the colour rule treats a *toned* family (the photos'
lightness with a faint uniform tint), which nothing is fitted on.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.transforms import blur, centre_crop, downscale, jpeg, mirror, noise, photo_files, webp  # noqa: E402

BACKENDS = ("ahash", "phash", "dhash", "timm")
DEEP = "timm"
HEX_LEN = 16                       # the evaluation's length: 64 bits
CALIBRATE_LENGTHS = (16, 64)
FPR = 1e-3                         # at most 1 pair of different images in 1000 may be kept
CACHE = Path(os.environ.get("IDH_CACHE", Path.home() / ".cache" / "image-deep-hash"))
CORPUS = CACHE / "corpus"
PACKAGE_CACHE = CACHE / "verdicts"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "verdicts"

KINDS = ("solid", "gradient", "text", "page", "shapes", "ui", "texture")
EVAL_SEED, CALIBRATION_SEED = 20240611, 977
EVAL_WORDS = (
    "harbour lantern meadow copper violet orbit granite willow saddle ember quartz falcon pepper "
    "timber maple canyon silver walnut pillow rocket beacon marble thistle anchor cobalt velvet "
    "summit tangle prism juniper lemon raven cedar plaza ribbon stencil garnet hollow vector "
    "parcel bistro harvest glacier sprocket tundra locket").split()
CALIBRATION_WORDS = (
    "Invoice Settings Cancel Download Profile Weather Report Monday Update Gallery Account "
    "Summary Network Printer Folder Archive Message Calendar Contact Preview Library Storage "
    "Backup Volume Display Keyboard Install Window Search Filter Export Import Journal Budget "
    "Ticket Server Kernel Session Station Channel Quarter Balance Letter Notice Memo").split()
assert not {w.lower() for w in EVAL_WORDS} & {w.lower() for w in CALIBRATION_WORDS}

# --- real low-detail images: (package, kind, files, at most, licence stanza hint) -------------------
# Icons are drawn onto white at 224 px on a 256 px canvas; screenshots are kept as they are.
EVAL_PACKAGES = (
    ("adwaita-icon-theme", "icon", r"/icons/Adwaita/512x512/[^/]+/[^/]+\.png$", 120, "*"),
    ("gnome-user-docs", "screenshot", r"/help/C/[^/]+/figures/[^/]+\.png$", 60, "*"),
    ("okular", "screenshot", r"/doc/HTML/en/okular/[^/]+\.png$", 60, "*"),
)
CALIBRATION_PACKAGES = (
    ("oxygen-icon-theme", "icon", r"/oxygen/base/256x256/(apps|devices|places|categories|applets)/[^/]+\.png$",
     120, "*"),
    ("dolphin", "screenshot", r"/doc/HTML/en/dolphin/[^/]+\.png$", 60, "doc/*"),
    ("gwenview", "screenshot", r"/doc/HTML/en/gwenview/[^/]+\.png$", 60, "*"),
)


def _seed(text: str) -> int:
    return zlib.crc32(text.encode())


# ================================================================================================
# Edits
# ================================================================================================
def jpeg_420(quality: int):
    def f(img):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, subsampling=2)  # 4:2:0 chroma subsampling
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return f


def invert(img):
    return ImageOps.invert(img.convert("RGB"))


def swap_red_blue(img):
    r, g, b = img.convert("RGB").split()
    return Image.merge("RGB", (b, g, r))


def hue_180(img):
    h, s, v = img.convert("RGB").convert("HSV").split()
    return Image.merge("HSV", (h.point(lambda x: (x + 128) % 256), s, v)).convert("RGB")


def grayscale(img):
    return img.convert("L").convert("RGB")


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) to 8-bit sRGB: the inverse of registry.colour's conversion, for drawing tints."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f ** 3 > 216 / 24389, f ** 3, (116 * f - 16) / (24389 / 27)) * np.array([0.95047, 1.0, 1.08883])
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    c = np.clip(xyz @ np.linalg.inv(m).T, 0, None)
    c = np.where(c > 0.0031308, 1.055 * c ** (1 / 2.4) - 0.055, 12.92 * c)
    return np.clip(np.rint(c * 255), 0, 255).astype(np.uint8)


def toned(img, chroma: float, hue_degrees: float) -> Image.Image:
    """The photo as a toned print: its lightness, with one faint uniform tint (a sepia print, paper, a
    studio backdrop). JPEG's coarse chroma steps move such a tint; the colour rule must not call that
    a recolouring."""
    from registry.colour import _srgb_to_lab
    lightness = _srgb_to_lab(np.asarray(img.convert("L").convert("RGB")))[..., 0]
    h = np.radians(hue_degrees)
    lab = np.stack([lightness, np.full_like(lightness, chroma * np.cos(h)),
                    np.full_like(lightness, chroma * np.sin(h))], axis=-1)
    return Image.fromarray(_lab_to_srgb(lab))


#: The faint tints of the toned calibration family (chroma in Lab units; hues drawn per photo).
TONED_CHROMAS = (1, 2, 3, 4, 6, 8)


def saturation(factor: float):
    return lambda img: ImageEnhance.Color(img.convert("RGB")).enhance(factor)


def brightness(factor: float):
    return lambda img: ImageEnhance.Brightness(img.convert("RGB")).enhance(factor)


#: Edits that change what a picture looks like while its hash barely moves: fetch again.
COLOUR_EDITS: dict[str, Callable] = {
    "inverted": invert, "red-blue swapped": swap_red_blue, "hue +180": hue_180, "grayscale": grayscale,
    "brightness +50%": brightness(1.5), "brightness -50%": brightness(0.5),
    # no goal of the issue; visible, and the visibility gate must not hide them:
    "saturation -30%": saturation(0.7), "saturation +30%": saturation(1.3),
}
#: Copies of the low-detail images, which must not be called different.
LOW_DETAIL_COPIES: dict[str, Callable] = {"jpeg50": jpeg(50), "scale1/2": downscale(2)}
#: Re-encoded copies of the photos, which should be kept, with the colour checks quiet.
PHOTO_COPIES: dict[str, Callable] = {"jpeg50": jpeg(50), "scale1/2": downscale(2), "jpeg75 4:2:0": jpeg_420(75),
                                     # the same picture to every hash, and "edited" to the verdict:
                                     "crop10": centre_crop(10), "mirror": mirror}
#: Benign edits of calibration photos: the colour limits sit just beyond what these do.
BENIGN_EDITS: dict[str, Callable] = {
    "jpeg50": jpeg(50), "jpeg75 4:2:0": jpeg_420(75), "webp": webp(75), "scale1/2": downscale(2),
    "crop10": centre_crop(10), "mirror": mirror, "blur1": blur(1), "noise5": noise(5),
}
#: Further edits --benign may add (a 25% crop is a positive of the robustness benchmark).
MORE_BENIGN: dict[str, Callable] = {"crop25": centre_crop(25), "crop5": centre_crop(5)}
#: Benign edits that move the picture's layout: a copy cropped or mirrored is "edited", not kept.
GEOMETRIC_EDITS = ("crop10", "crop25", "crop5", "mirror")
GOAL_EDITS = ("inverted", "red-blue swapped", "hue +180", "grayscale")
#: Colour edits that change nothing on a photo that is already (nearly) gray: such photos skip them.
GRAY_NO_OPS = ("grayscale", "hue +180", "red-blue swapped", "saturation -30%", "saturation +30%")


# ================================================================================================
# The synthetic low-detail family
# ================================================================================================
SIZES = ((256, 256), (320, 240), (240, 320), (400, 300), (300, 400))


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one small bitmap font
        return ImageFont.load_default()


def _rgb(values) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(values, 0, 255))  # type: ignore[return-value]


def _any(rng) -> tuple[int, int, int]:
    return _rgb(rng.integers(0, 256, 3))


def _dark(rng) -> tuple[int, int, int]:
    return _rgb(rng.integers(0, 80, 3))


def _light(rng, low: int = 225) -> tuple[int, int, int]:
    return _rgb(rng.integers(low, 256, 3))


def _vivid(rng) -> tuple[int, int, int]:
    """A saturated colour: a random hue at high saturation, as icons and buttons have."""
    hsv = Image.new("HSV", (1, 1), (int(rng.integers(0, 256)), int(rng.integers(150, 256)),
                                    int(rng.integers(120, 256))))
    return hsv.convert("RGB").getpixel((0, 0))


def _size(rng) -> tuple[int, int]:
    return SIZES[int(rng.integers(len(SIZES)))]


def _words(rng, words, n: int) -> str:
    return " ".join(words[int(i)] for i in rng.integers(0, len(words), n))


def draw_solid(rng, words):
    return Image.new("RGB", _size(rng), _any(rng))


def draw_gradient(rng, words):
    w, h = _size(rng)
    c0, c1 = np.array(_any(rng), float), np.array(_any(rng), float)
    y, x = np.mgrid[0:h, 0:w]
    form = int(rng.integers(4))
    if form == 0:
        t = x / (w - 1)
    elif form == 1:
        t = y / (h - 1)
    elif form == 2:
        t = (x / (w - 1) + y / (h - 1)) / 2
    else:
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        t = np.hypot(x - cx, y - cy)
        t = t / t.max()
    arr = c0 + (c1 - c0) * t[..., None]
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def draw_text(rng, words):
    """A text snippet on white: a word or three in a dark colour, somewhere on the canvas."""
    w, h = _size(rng)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    text = _words(rng, words, int(rng.integers(1, 4)))
    size = int(rng.integers(18, 44))
    font = _font(size)
    while size > 10 and draw.textbbox((0, 0), text, font=font)[2] > w - 10:
        size -= 4
        font = _font(size)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    x = int(rng.integers(5, max(6, w - (x1 - x0) - 5)))
    y = int(rng.integers(5, max(6, h - (y1 - y0) - 5)))
    draw.text((x, y), text, fill=_dark(rng), font=font)
    return img


def draw_page(rng, words):
    """A page of text: a heading and paragraphs of small print, margins around them."""
    w, h = ((300, 400), (340, 440), (400, 300))[int(rng.integers(3))]
    img = Image.new("RGB", (w, h), _light(rng, 245))
    draw = ImageDraw.Draw(img)
    margin = int(rng.integers(18, 40))
    ink = _dark(rng)
    y = margin
    heading = _font(int(rng.integers(16, 24)))
    draw.text((margin, y), _words(rng, words, int(rng.integers(2, 4))).title(), fill=ink, font=heading)
    y += int(rng.integers(30, 44))
    body = _font(int(rng.integers(9, 13)))
    step = int(rng.integers(13, 18))
    lines = int(rng.integers(4, (h - y - margin) // step + 1))
    for k in range(lines):
        if rng.random() < 0.12:  # paragraph break
            y += step
            continue
        line = _words(rng, words, int(rng.integers(3, 9)))
        while draw.textbbox((0, 0), line, font=body)[2] > w - 2 * margin and " " in line:
            line = line.rsplit(" ", 1)[0]
        draw.text((margin, y), line, fill=ink, font=body)
        y += step
        if y > h - margin - step:
            break
    return img


def draw_shapes(rng, words):
    """Icons and shapes: one to three flat shapes on a white or light background."""
    w, h = _size(rng)
    img = Image.new("RGB", (w, h), _light(rng, 235) if rng.random() < 0.5 else (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
        r = rng.uniform(0.12, 0.3) * min(w, h)
        box = (cx - r, cy - r, cx + r, cy + r)
        form = int(rng.integers(5))
        colour = _vivid(rng)
        if form == 0:
            draw.ellipse(box, fill=colour)
        elif form == 1:
            draw.rectangle(box, fill=colour)
        elif form == 2:
            draw.rounded_rectangle(box, radius=r / 3, fill=colour)
            letter = words[int(rng.integers(len(words)))][0].upper()
            draw.text((cx, cy), letter, fill=(255, 255, 255), font=_font(int(r)), anchor="mm")
        elif form == 3:
            k = int(rng.integers(3, 7))
            angles = rng.uniform(0, 2 * np.pi) + np.arange(k) * 2 * np.pi / k
            draw.polygon([(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles], fill=colour)
        else:
            draw.line((cx - r, cy - r, cx + r, cy + r), fill=colour, width=int(rng.integers(4, 12)))
    return img


def draw_ui(rng, words):
    """A UI-like screenshot: window chrome with a title, labels, a text field and buttons."""
    w, h = ((400, 300), (320, 240), (480, 320))[int(rng.integers(3))]
    body = _light(rng, 228)
    img = Image.new("RGB", (w, h), body)
    draw = ImageDraw.Draw(img)
    bar_h = int(rng.integers(22, 34))
    bar = _rgb(rng.integers(40, 90, 3)) if rng.random() < 0.4 else _rgb(np.array(body) - rng.integers(15, 35))
    draw.rectangle((0, 0, w, bar_h), fill=bar)
    title_ink = (255, 255, 255) if sum(bar) < 300 else (30, 30, 30)
    draw.text((10, bar_h // 2), _words(rng, words, 2).title(), fill=title_ink, font=_font(13), anchor="lm")
    for k, colour in enumerate(((236, 95, 90), (245, 190, 80), (98, 195, 85))):
        draw.ellipse((w - 20 - 18 * k - 6, bar_h // 2 - 6, w - 20 - 18 * k + 6, bar_h // 2 + 6),
                     fill=colour if rng.random() < 0.6 else _rgb(np.array(bar) + 40))
    y = bar_h + int(rng.integers(12, 24))
    small = _font(12)
    for _ in range(int(rng.integers(1, 4))):
        draw.text((16, y), _words(rng, words, int(rng.integers(2, 5))).capitalize() + ":", fill=(40, 40, 40),
                  font=small)
        y += 22
    if rng.random() < 0.7:
        draw.rectangle((16, y, w - 16, y + 24), fill=(255, 255, 255), outline=(150, 150, 150))
        draw.text((22, y + 12), _words(rng, words, 1), fill=(90, 90, 90), font=small, anchor="lm")
        y += 36
    accent = _vivid(rng)
    x = w - 16
    for k in range(int(rng.integers(1, 3))):
        label = _words(rng, words, 1).capitalize()
        tw = draw.textbbox((0, 0), label, font=small)[2] + 24
        fill, ink = (accent, (255, 255, 255)) if k == 0 else ((250, 250, 250), (30, 30, 30))
        draw.rounded_rectangle((x - tw, h - 44, x, h - 16), radius=5, fill=fill, outline=(140, 140, 140))
        draw.text((x - tw / 2, h - 30), label, fill=ink, font=small, anchor="mm")
        x -= tw + 10
    return img


def draw_texture(rng, words):
    """A near-flat texture: a paper tone with light noise and faint blotches."""
    w, h = _size(rng)
    base = np.array(_light(rng, 200) if rng.random() < 0.7 else _any(rng), float)
    blotch = rng.normal(0, 1, (h // 16 + 1, w // 16 + 1))
    blotch = np.asarray(Image.fromarray(blotch.astype(np.float32)).resize((w, h), Image.Resampling.BICUBIC))
    arr = base + rng.uniform(1, 5) * blotch[..., None] + rng.normal(0, rng.uniform(1.5, 5), (h, w, 1))
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


DRAW = {"solid": draw_solid, "gradient": draw_gradient, "text": draw_text, "page": draw_page,
        "shapes": draw_shapes, "ui": draw_ui, "texture": draw_texture}


def synthetic_family(seed: int, per_kind: int, words) -> list[dict]:
    """Low-detail images drawn with Pillow: ``per_kind`` of each of KINDS, reproducible from ``seed``."""
    out = []
    for kind in KINDS:
        rng = np.random.default_rng([seed, _seed(kind)])
        for k in range(per_kind):
            out.append({"name": f"{kind}-{k:02d}", "kind": kind, "source": "synthetic",
                        "image": DRAW[kind](rng, words).convert("RGB")})
    return out


# ================================================================================================
# Real low-detail images from Debian packages
# ================================================================================================
def unpack_package(package: str, cache: Path = PACKAGE_CACHE) -> tuple[Path, str]:
    """Download a Debian package (``apt-get download``) and unpack it (``dpkg-deb -x``); (root, version)."""
    debs, trees = cache / "debs", cache / "packages"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        run = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if run.returncode or not found:
            raise RuntimeError(f"apt-get download {package} failed: {run.stderr.strip()[-400:]}")
    deb = found[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    root = trees / package
    stamp = root / ".unpacked"
    if not stamp.is_file() or stamp.read_text() != version:
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        stamp.write_text(version)
    return root, version


def copyright_licence(root: Path, package: str, files: str = "*") -> str:
    """The License line of the debian/copyright stanza whose Files list ``files`` (else Files: *)."""
    path = root / "usr" / "share" / "doc" / package / "copyright"
    if not path.is_file():
        return "unknown (no debian/copyright)"
    stanzas = path.read_text(errors="replace").split("\n\n")
    for wanted in (files, "*"):
        for stanza in stanzas:
            m = re.search(r"^Files:(.*?)(?=^\S)", stanza + "\nX", re.S | re.M)
            patterns = m.group(1).split() if m else []
            lic = re.search(r"^License:\s*(.+)$", stanza, re.M)
            if wanted in patterns and lic:
                return lic.group(1).strip()
    return "see debian/copyright"


def _on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(canvas, rgba).convert("RGB")


def render_icon(img: Image.Image, side: int = 256, icon: int = 224) -> Image.Image:
    rgba = img.convert("RGBA")
    rgba = rgba.resize((icon, icon), Image.Resampling.LANCZOS) if rgba.size != (icon, icon) else rgba
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(rgba, ((side - icon) // 2, (side - icon) // 2))
    return canvas.convert("RGB")


def real_family(specs, cache: Path = PACKAGE_CACHE) -> tuple[list[dict], list[dict]]:
    """(images, sources) from Debian packages: icons on white, screenshots as they are, pixel-unique."""
    images, sources, seen = [], [], set()
    for package, kind, pattern, limit, stanza in specs:
        root, version = unpack_package(package, cache)
        rx = re.compile(pattern)
        files = sorted(p for p in root.rglob("*.png") if not p.is_symlink() and rx.search(p.as_posix()))
        kept = []
        for path in files:
            with Image.open(path) as raw:
                raw.load()
                if kind == "icon":
                    if min(raw.size) < 128:
                        continue
                    img = render_icon(raw)
                else:
                    if min(raw.size) < 40 or raw.width * raw.height < 20000:
                        continue
                    img = _on_white(raw)
            key = hashlib.sha256(img.tobytes() + repr(img.size).encode()).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            kept.append({"name": f"{package}:{path.relative_to(root)}", "kind": kind, "source": package,
                         "image": img})
        if len(kept) > limit:  # evenly spread over the sorted list, so every folder is represented
            kept = [kept[int(i)] for i in np.linspace(0, len(kept) - 1, limit).round()]
        images += kept
        sources.append({"package": package, "version": version, "kind": kind, "files": len(kept),
                        "licence": copyright_licence(root, package, stanza),
                        "how": "apt-get download + dpkg-deb -x (not installed)", "pattern": pattern})
    return images, sources


# ================================================================================================
# Photos
# ================================================================================================
def load_rgb(path) -> Image.Image:
    from registry.loading import load_image
    return load_image(path).convert("RGB")


def corpus_fit_photos(count: int, corpus: Path = CORPUS,
                      record: Path = ROOT / "benchmarks" / "corpus_sources.json") -> list[dict]:
    """``count`` photos of the corpus's fit split, taken in turn from each look-alike group."""
    photos = [p for p in json.loads(record.read_text())["photos"] if p["split"] == "fit"]
    groups: dict[str, list] = {}
    for p in sorted(photos, key=lambda p: p["name"]):
        groups.setdefault(p.get("group") or p["name"], []).append(p)
    chosen, depth = [], 0
    while len(chosen) < count and any(len(g) > depth for g in groups.values()):
        for g in sorted(groups):
            if depth < len(groups[g]) and len(chosen) < count:
                chosen.append(groups[g][depth])
        depth += 1
    out = []
    for p in chosen:
        path = corpus / "photos" / p["name"]
        if path.is_file():
            out.append({"name": p["name"], "group": p.get("group") or p["name"], "path": path,
                        "source": p.get("source"), "licence": p.get("licence")})
    return out


def spread(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them when k >= n)."""
    if k >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, k).round()})


def mostly_gray(img: Image.Image, limit: float = 4.0) -> bool:
    """An image whose colour edits (grayscale, hue) are nearly no-ops: mean channel spread below ``limit``."""
    arr = np.asarray(img.convert("RGB").reduce(max(1, min(img.size) // 128)), dtype=np.int16)
    return float((arr.max(axis=2) - arr.min(axis=2)).mean()) < limit


# ================================================================================================
# Hashing and judging
# ================================================================================================
def hashers(backends=BACKENDS, hex_len: int = HEX_LEN) -> dict:
    import registry
    return {b: registry.create(b, hex_len=hex_len) for b in backends}


def hash_images(hasher, images: list[Image.Image]) -> list:
    return hasher.hash_many(images, batch_size=16)


def pair_distances(hashes) -> np.ndarray:
    """Distances of all pairs i < j, in np.triu_indices order."""
    bits = np.stack([h.bits for h in hashes])
    packed = np.packbits(bits, axis=1)
    lut = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)
    rows = [lut[packed[i] ^ packed[i + 1:]].sum(axis=1) for i in range(len(packed) - 1)]
    return np.concatenate(rows) if rows else np.zeros(0, dtype=np.uint16)


def rate(k: int, n: int) -> float | None:
    return round(k / n, 5) if n else None


def keep_counts(comparisons: list) -> dict:
    n = len(comparisons)
    kept = sum(not c.fetch_again for c in comparisons)
    old = sum(c.same_picture for c in comparisons)
    verdicts: dict[str, int] = {}
    for c in comparisons:
        verdicts[c.verdict] = verdicts.get(c.verdict, 0) + 1
    return {"copies": n, "kept": kept, "rate": rate(kept, n), "old_rule_kept": old,
            "old_rule_rate": rate(old, n), "verdicts": verdicts}


# ================================================================================================
# Evaluation
# ================================================================================================
def evaluate(args) -> dict:
    from registry import comparison
    from registry.colour import COLOUR_LIMITS, gradient_detail, signature, thumbnail_detail

    comparison._calibration.cache_clear()
    t_start = time.time()
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.progress else (lambda *a: None)
    family = synthetic_family(EVAL_SEED, args.per_kind, EVAL_WORDS)
    sources = [{"package": "synthetic (Pillow)", "kind": ", ".join(KINDS), "files": len(family),
                "licence": "drawn by this script", "seed": EVAL_SEED}]
    if not args.no_packages:
        real, found = real_family(EVAL_PACKAGES, args.package_cache)
        family += real
        sources += found
    low = [f["image"] for f in family]
    n_low = len(low)
    log(f"low-detail family: {n_low} images")
    photo_paths = photo_files(args.photos)
    if args.max_photos:
        photo_paths = [photo_paths[i] for i in spread(len(photo_paths), args.max_photos)]
    deep_photos = set(spread(len(photo_paths), args.deep_photos))
    deep_copies = set(spread(n_low, args.deep_copies))
    backends = [b for b in args.backends]
    hs = hashers(backends)

    out: dict = {"hex_len": HEX_LEN, "bits": 4 * HEX_LEN, "command": "python benchmarks/verdicts.py "
                 + " ".join(args.argv), "limits": {}, "backends": {}}
    out["limits"] = {
        "similar": {b: comparison.similar_threshold(b, HEX_LEN) for b in backends},
        "min_detail": {b: comparison.min_detail(b, HEX_LEN) for b in backends},
        "colour": {**COLOUR_LIMITS, **comparison.colour_limits()},
        "layout_different": comparison.layout_different(),
        "fine_layout": comparison.fine_limit(),
    }
    by_kind: dict[str, int] = {}
    for f in family:
        by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
    out["low_detail"] = {"images": n_low, "by_kind": by_kind, "sources": sources,
                         "pairs": n_low * (n_low - 1) // 2, "copies": list(LOW_DETAIL_COPIES)}
    gray_photos: list[str] = []
    out["photos"] = {"folder": str(args.photos), "count": len(photo_paths),
                     "deep_subsample": len(deep_photos) if DEEP in backends else 0,
                     "deep_low_detail_copies": len(deep_copies) if DEEP in backends else 0,
                     "edits": list(COLOUR_EDITS), "copies": list(PHOTO_COPIES)}

    # (a) + (b): the low-detail family, hashed once per backend, every pair judged.
    low_copy_images = {(i, c): fn(low[i]) for i in range(n_low) for c, fn in LOW_DETAIL_COPIES.items()}
    for b in backends:
        t0 = time.time()
        h_low = hash_images(hs[b], low)
        idx = [i for i in range(n_low) if b != DEEP or i in deep_copies]
        keys = [(i, c) for i in idx for c in LOW_DETAIL_COPIES]
        h_copy = dict(zip(keys, hash_images(hs[b], [low_copy_images[k] for k in keys])))
        log(f"{b}: low-detail family hashed in {time.time() - t0:.1f} s")
        kept, old_kept, examples, kept_by_kind, kept_by_source = 0, 0, [], {}, {}
        n_pairs = 0
        low_flags = 0
        for i in range(n_low):
            for j in range(i + 1, n_low):
                c = comparison.compare_hashes(h_low[i], h_low[j])
                n_pairs += 1
                low_flags += c.low_detail
                old_kept += c.same_picture
                if not c.fetch_again:
                    kept += 1
                    kinds = "/".join(sorted({family[i]["kind"], family[j]["kind"]}))
                    kept_by_kind[kinds] = kept_by_kind.get(kinds, 0) + 1
                    where = "/".join(sorted({family[i]["source"], family[j]["source"]}))
                    kept_by_source[where] = kept_by_source.get(where, 0) + 1
                    if len(examples) < 40:
                        examples.append({"a": family[i]["name"], "b": family[j]["name"], "distance": c.distance,
                                         "detail": [h_low[i].detail, h_low[j].detail], "verdict": c.verdict})
        copies = {}
        for cname in LOW_DETAIL_COPIES:
            comps = [comparison.compare_hashes(h_low[i], h_copy[(i, cname)]) for i in idx]
            diff = sum(c.verdict == "different" for c in comps)
            copies[cname] = {"copies": len(comps), "different": diff, "rate": rate(diff, len(comps)),
                             "old_rule_different": sum(not c.same_picture for c in comps),
                             "old_rule_rate": rate(sum(not c.same_picture for c in comps), len(comps)),
                             "verdicts": _count(c.verdict for c in comps),
                             "called_different": [family[i]["name"] for i, c in zip(idx, comps)
                                                  if c.verdict == "different"][:20]}
        n_c = sum(v["copies"] for v in copies.values())
        d_c = sum(v["different"] for v in copies.values())
        o_c = sum(v["old_rule_different"] for v in copies.values())
        out["backends"][b] = {
            "different_low_detail_pairs": {
                "pairs": n_pairs, "kept": kept, "rate": rate(kept, n_pairs), "old_rule_kept": old_kept,
                "old_rule_rate": rate(old_kept, n_pairs), "low_detail_pairs": low_flags,
                "kept_by_kinds": kept_by_kind, "kept_by_sources": kept_by_source, "examples": examples},
            "low_detail_copies_called_different": {"copies": n_c, "different": d_c, "rate": rate(d_c, n_c),
                                                   "old_rule_different": o_c, "old_rule_rate": rate(o_c, n_c),
                                                   "by_copy": copies},
            "details": {"low_detail_median": float(np.median([h.detail for h in h_low])),
                        "low_detail_below_min": int(sum(h.detail < comparison.min_detail(b, HEX_LEN)
                                                        for h in h_low))},
        }

    # (c) + (d): photos in chunks, every variant hashed once per backend.
    edits = {**{f"edit:{k}": v for k, v in COLOUR_EDITS.items()}, **{f"copy:{k}": v for k, v in PHOTO_COPIES.items()}}
    comps: dict[str, dict[str, list]] = {b: {k: [] for k in edits} for b in backends}
    skipped_gray: dict[str, list] = {f"edit:{k}": [] for k in GRAY_NO_OPS}
    photo_details: dict[str, list] = {b: [] for b in backends}
    for start in range(0, len(photo_paths), args.chunk):
        chunk = list(range(start, min(start + args.chunk, len(photo_paths))))
        originals = {p: load_rgb(photo_paths[p]) for p in chunk}
        variants = {(p, k): fn(originals[p]) for p in chunk for k, fn in edits.items()}
        for p in chunk:
            if mostly_gray(originals[p]):
                gray_photos.append(photo_paths[p].name)
        for b in backends:
            ps = [p for p in chunk if b != DEEP or p in deep_photos]
            if not ps:
                continue
            h_orig = dict(zip(ps, hash_images(hs[b], [originals[p] for p in ps])))
            photo_details[b] += [h_orig[p].detail for p in ps]
            keys = [(p, k) for p in ps for k in edits]
            h_var = dict(zip(keys, hash_images(hs[b], [variants[k] for k in keys])))
            for (p, k), hv in h_var.items():
                c = comparison.compare_hashes(h_orig[p], hv)
                if k in skipped_gray and mostly_gray(originals[p]):
                    skipped_gray[k].append((b, photo_paths[p].name))
                    continue
                comps[b][k].append(c)
        log(f"photos {chunk[-1] + 1}/{len(photo_paths)} ({time.time() - t_start:.0f} s)")
    out["photos"]["mostly_gray"] = gray_photos
    out["photos"]["note"] = ("grayscale, hue +180, a red-blue swap and a saturation change of a photo that is "
                             "already (nearly) gray change nothing: those photos are left out of those edits")
    for b in backends:
        limit = comparison.min_detail(b, HEX_LEN)
        res = out["backends"][b]
        res["colour_edits_kept"] = {k.split(":", 1)[1]: keep_counts(v) for k, v in comps[b].items()
                                    if k.startswith("edit:")}
        copies = {k.split(":", 1)[1]: keep_counts(v) for k, v in comps[b].items() if k.startswith("copy:")}
        for k, v in copies.items():
            cs = comps[b][f"copy:{k}"]
            v["recoloured"] = sum(c.verdict == "recoloured" for c in cs)
            v["edited"] = sum(c.verdict == "edited" for c in cs)
            v["low_detail"] = sum(c.low_detail for c in cs)
            v["changes"] = _count(ch for c in cs for ch in c.changes)
        res["photo_jpeg50_kept"] = copies["jpeg50"]
        res["photo_copies_kept"] = copies
        res["details"]["photos_below_min_detail"] = int(sum(d < limit for d in photo_details[b]))
        res["details"]["photos"] = len(photo_details[b])
        res["details"]["photo_detail_percentiles"] = _percentiles(photo_details[b])

    # (e) cost per image: the detail score and the colour signature, beside the hash itself.
    sample_paths = [photo_paths[p] for p in spread(len(photo_paths), args.cost_images)]
    sample = [load_rgb(p) for p in sample_paths]
    sample_low = [low[i] for i in spread(n_low, args.cost_images)]
    for b in backends:
        out["backends"][b]["cost_ms"] = {"photos": _cost(hs[b], sample, gradient_detail, thumbnail_detail,
                                                         signature, sample_paths),
                                         "low_detail": _cost(hs[b], sample_low, gradient_detail,
                                                             thumbnail_detail, signature)}
    out["goals"] = goals(out)
    out["seconds"] = round(time.time() - t_start, 1)
    return out


def _count(items) -> dict:
    out: dict = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _percentiles(values) -> dict:
    if not len(values):
        return {}
    return {f"p{q}": round(float(np.percentile(values, q)), 2) for q in (0, 1, 5, 10, 50)}


def _cost(hasher, images, gradient_detail, thumbnail_detail, signature, paths=None) -> dict:
    """Milliseconds per image: the hash (compute on a prepared image), the detail score, the signature;
    and, from files, what decoding them costs the hasher (its draft mode included)."""
    decode_ms = None
    if paths:
        t = time.perf_counter()
        for p in paths:
            hasher.prepare(hasher.decode(p))
        decode_ms = round((time.perf_counter() - t) / len(paths) * 1e3, 3)
    prepared = [hasher.prepare(im) for im in images]
    hasher.compute_many(prepared[:1])  # warm up
    t = time.perf_counter()
    hasher.compute_many(prepared)
    hash_ms = (time.perf_counter() - t) / len(images) * 1e3
    t = time.perf_counter()
    if hasattr(hasher, "gray"):
        thumbs = [hasher.gray(im) for im in prepared]
        t = time.perf_counter()
        for g in thumbs:
            gradient_detail(g)
        how = "gradient of the hash's own thumbnail (already made for the hash)"
    else:
        for im in prepared:
            thumbnail_detail(im)
        how = "16 x 16 grayscale thumbnail of the image"
    detail_ms = (time.perf_counter() - t) / len(images) * 1e3
    t = time.perf_counter()
    for im in images:
        signature(im)
    colour_ms = (time.perf_counter() - t) / len(images) * 1e3
    from registry.comparison import compare_hashes
    hashes = [hasher.hash(im) for im in images]
    pairs = [(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]]
    t = time.perf_counter()
    for a, b in pairs:
        compare_hashes(a, b)
    judge_us = (time.perf_counter() - t) / max(1, len(pairs)) * 1e6
    return {"images": len(images), "decode_ms": decode_ms, "hash_ms": round(hash_ms, 3),
            "detail_ms": round(detail_ms, 4),
            "colour_ms": round(colour_ms, 3), "detail_how": how, "judge_us": round(judge_us, 1),
            "extra_share": round((detail_ms + colour_ms) / hash_ms, 4) if hash_ms else None}


def goals(out: dict) -> dict:
    """The issue's goals at 64 bits, per backend: met or not, with the numbers."""
    res = {}
    for b, r in out["backends"].items():
        a = r["different_low_detail_pairs"]
        c = r["colour_edits_kept"]
        d = r["photo_jpeg50_kept"]
        g = {
            "low_detail_pairs_kept<=1/1000": a["rate"] is not None and a["rate"] <= FPR,
            "low_detail_copies_different<=5%": (r["low_detail_copies_called_different"]["rate"] or 0) <= 0.05,
            "inverted_and_swapped_never_kept": all(c[e]["kept"] == 0 for e in ("inverted", "red-blue swapped")),
            "grayscale_and_hue180_kept<=5%": all((c[e]["rate"] or 0) <= 0.05 for e in ("grayscale", "hue +180")),
            "photo_jpeg50_kept_within_2_points_of_old_rule":
                d["rate"] is not None and d["rate"] >= d["old_rule_rate"] - 0.02,
        }
        g["all"] = all(g.values())
        res[b] = g
    return res


# ================================================================================================
# Calibration
# ================================================================================================
def smallest_passing(values: np.ndarray, bad: np.ndarray, fpr: float) -> dict:
    """The smallest D such that among the items with value >= D at most ``fpr`` are bad (None if none)."""
    if not len(values):
        return {"D": None}
    order = np.argsort(values)[::-1]  # largest first
    v = values[order]
    cum_bad = np.cumsum(bad[order].astype(np.int64))
    count = np.arange(1, len(v) + 1)
    ends = np.nonzero(np.r_[v[1:] != v[:-1], True])[0]  # the last index of each distinct value
    ok = ends[cum_bad[ends] <= fpr * count[ends]]
    if not len(ok):
        best = ends[np.argmin(cum_bad[ends] / count[ends])]
        return {"D": None, "lowest_rate": round(float(cum_bad[best] / count[best]), 6),
                "at": round(float(v[best]), 2), "items_above": int(count[best])}
    k = ok[-1]
    return {"D": round(float(v[k]), 2), "items_above": int(count[k]), "bad_above": int(cum_bad[k]),
            "rate_above": round(float(cum_bad[k] / count[k]), 6)}


def _round_up(x: float, step: float) -> float:
    return round(float(np.ceil(x / step - 1e-9) * step), 4)


def _round_down(x: float, step: float) -> float:
    return round(float(np.floor(x / step + 1e-9) * step), 4)


STAT_KEYS = ("lightness", "contrast", "saturation", "hue_shift", "lightness_corr", "chroma_corr")


def colour_limits_from(benign_by_edit: dict, margin: float, quantile: float) -> dict:
    """Each limit just beyond the ``quantile`` of every benign edit (the most demanding edit sets it).

    Ratios (contrast, saturation) count both ways; "just beyond" is ``margin`` of the distance from no
    change (1 for ratios and correlations, 0 for differences).
    """
    def q(values, upper=True):
        return float(np.quantile(values, quantile if upper else 1 - quantile))

    edits = list(benign_by_edit.values())
    two_way = lambda v: np.maximum(np.asarray(v), 1 / np.asarray(v))
    lightness = max(q(e["lightness"]) for e in edits)
    contrast = max(q(two_way(e["contrast"])) for e in edits)
    saturation = max(q(two_way(e["saturation"])) for e in edits)
    hue = max(q(e["hue_shift"]) for e in edits)
    lcorr = min(q(e["lightness_corr"], False) for e in edits)
    ccorr = min(q(e["chroma_corr"], False) for e in edits)
    return {"lightness": _round_up(lightness * (1 + margin), 0.5),
            "contrast": _round_up(1 + (contrast - 1) * (1 + margin), 0.01),
            "saturation": _round_up(1 + (saturation - 1) * (1 + margin), 0.01),
            "hue_shift": _round_up(hue * (1 + margin), 0.5),
            "lightness_corr": _round_down(1 - (1 - lcorr) * (1 + margin), 0.01),
            "chroma_corr": _round_down(1 - (1 - ccorr) * (1 + margin), 0.01)}


def toned_copies(photo_images: list, photos: list[dict], limits: dict, benign_edits: dict) -> dict:
    """How the colour rule treats benign copies of toned prints of the calibration photos, with and
    without the visibility gate (registry.colour.VISIBLE_CHROMA). Reported, not fitted: the photos the
    limits are fitted on are all colourful or gray, so nothing else shows what JPEG does to a faint tint."""
    from registry.colour import VISIBLE_CHROMA, changes_in, colour_stats, signature
    shifts: dict[str, list] = {name: [] for name in benign_edits}
    flagged = {name: 0 for name in benign_edits}
    ungated = {name: 0 for name in benign_edits}
    for img, p in zip(photo_images, photos):
        small = img.reduce(max(1, min(img.size) // 512))
        hues = np.random.default_rng(_seed(p["name"])).uniform(0, 360, len(TONED_CHROMAS))
        for chroma, hue in zip(TONED_CHROMAS, hues):
            print_ = toned(small, chroma, hue)
            sig = signature(print_)
            for name, edit in benign_edits.items():
                stats = colour_stats(sig, signature(edit(print_)))
                shifts[name].append(stats["visible_shift"])
                flagged[name] += bool(changes_in(stats, limits))
                ungated[name] += bool(changes_in(stats, limits, visible_chroma=0.0))
    return {"photos": len(photos), "chromas": list(TONED_CHROMAS), "size": "about 512 pixels a side",
            "copies_per_kind": len(photos) * len(TONED_CHROMAS), "visible_chroma": VISIBLE_CHROMA,
            "flagged": flagged, "flagged_without_visibility_gate": ungated,
            "visible_shift": {name: {"p99.5": round(float(np.quantile(v, 0.995)), 3), "max": round(float(max(v)), 3)}
                             for name, v in shifts.items()}}


def calibrate(args) -> dict:
    from registry import comparison
    from registry.colour import CHROMA_CORR_MIN_LAYOUT, colour_change, colour_stats, fine_change, signature

    t_start = time.time()
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.progress else (lambda *a: None)
    family = synthetic_family(CALIBRATION_SEED, args.per_kind, CALIBRATION_WORDS)
    sources = [{"package": "synthetic (Pillow)", "kind": ", ".join(KINDS), "files": len(family),
                "licence": "drawn by this script", "seed": CALIBRATION_SEED, "words": "calibration list"}]
    if not args.no_packages:
        real, found = real_family(CALIBRATION_PACKAGES, args.package_cache)
        family += real
        sources += found
    photos = corpus_fit_photos(args.calibration_photos, args.corpus, args.record)
    if not photos:
        raise SystemExit(f"no corpus photos under {args.corpus / 'photos'}: run benchmarks/corpus.py first")
    log(f"calibration: {len(family)} low-detail images, {len(photos)} corpus photos")
    low = [f["image"] for f in family]
    photo_images = [load_rgb(p["path"]) for p in photos]

    # 1. Colour limits: what benign copies of the photos do to each statistic.
    sig_photo = [signature(im) for im in photo_images]
    benign_edits = {name: {**BENIGN_EDITS, **MORE_BENIGN}[name] for name in args.benign}
    benign_sigs = {name: [signature(fn(im)) for im in photo_images] for name, fn in benign_edits.items()}
    benign_by_edit = {name: {k: [] for k in STAT_KEYS} for name in benign_edits}
    for name, sigs in benign_sigs.items():
        for a, b in zip(sig_photo, sigs):
            s = colour_stats(a, b)
            for k in STAT_KEYS:
                benign_by_edit[name][k].append(s[k])
    limits = colour_limits_from(benign_by_edit, args.colour_margin, args.colour_quantile)
    gray = [mostly_gray(im) for im in photo_images]
    caught = {}
    for name, fn in COLOUR_EDITS.items():
        hits = [bool(colour_change(a, signature(fn(im)), limits))
                for a, im, g in zip(sig_photo, photo_images, gray)
                if not (g and name in GRAY_NO_OPS)]
        caught[name] = {"photos": len(hits), "caught": int(sum(hits)), "rate": rate(int(sum(hits)), len(hits))}
    quiet = {name: {"copies": len(sigs), "flagged": int(sum(bool(colour_change(a, b, limits))
                                                              for a, b in zip(sig_photo, sigs)))}
             for name, sigs in benign_sigs.items()}
    log(f"colour limits {limits} ({time.time() - t_start:.0f} s)")
    toned_family = toned_copies(photo_images, photos, limits, benign_edits)
    log(f"toned photos: {toned_family['flagged']} ({time.time() - t_start:.0f} s)")

    # 2. layout_different: layout distance of low-detail images to their JPEG-50 and rescaled copies.
    sig_low = [signature(im) for im in low]
    copies = [fn(im) for im in low for fn in LOW_DETAIL_COPIES.values()]
    sig_copies = [signature(im) for im in copies]
    layouts = [colour_stats(sig_low[k // len(LOW_DETAIL_COPIES)], sc)["layout"] for k, sc in enumerate(sig_copies)]
    q995 = float(np.quantile(layouts, 0.995))
    layout_limit = _round_up(max(q995 * (1 + args.colour_margin), q995 + 0.5), 0.5)
    pair_layouts = np.array([colour_stats(sig_low[i], sig_low[j])["layout"]
                             for i in range(len(low)) for j in range(i + 1, len(low))])
    layout = {"layout_different": layout_limit, "copies": len(layouts),
              "copy_layout_p99.5": round(q995, 3), "copy_layout_max": round(float(np.max(layouts)), 3),
              "copies_beyond": int(sum(x > layout_limit for x in layouts)),
              "different_pairs": len(pair_layouts),
              "different_pairs_within": int((pair_layouts <= layout_limit).sum())}
    log(f"layout_different {layout_limit} ({time.time() - t_start:.0f} s)")

    # 2b. fine_layout.limit: how far re-encoded and resized copies move the 8 x 8 lightness layout.
    # Crops and mirror images move it by design (they are "edited": not the file that was sent).
    fine_values = {name: [fine_change(a, b) for a, b in zip(sig_photo, sigs)]
                   for name, sigs in benign_sigs.items() if name not in GEOMETRIC_EDITS}
    fine_values["low-detail copies"] = [fine_change(sig_low[k // len(LOW_DETAIL_COPIES)], sc)
                                        for k, sc in enumerate(sig_copies)]
    fine_q = max(float(np.quantile(v, args.colour_quantile)) for v in fine_values.values())
    fine_lim = _round_up(max(fine_q * (1 + args.colour_margin), fine_q + 0.5), 0.5)
    fine = {"limit": fine_lim, "quantile": args.colour_quantile, "margin": args.colour_margin,
            "by_copy": {name: {"copies": len(v), f"p{100 * args.colour_quantile:g}": round(float(
                np.quantile(v, args.colour_quantile)), 3), "max": round(float(np.max(v)), 3),
                "beyond": int(sum(x > fine_lim for x in v))} for name, v in fine_values.items()},
            "geometric_edits_beyond": {name: int(sum(fine_change(a, b) > fine_lim for a, b in zip(sig_photo, sigs)))
                                       for name, sigs in benign_sigs.items() if name in GEOMETRIC_EDITS}}
    log(f"fine_layout.limit {fine_lim} ({time.time() - t_start:.0f} s)")

    # 3. min_detail per backend and length, from every pair of different images (low detail and photos).
    groups = [f"low:{f['name']}" for f in family] + [f"photo:{p['group']}" for p in photos]
    sigs = sig_low + sig_photo
    iu = np.triu_indices(len(groups), 1)
    g = np.array(groups)
    different = g[iu[0]] != g[iu[1]]
    pi, pj = iu[0][different], iu[1][different]
    is_photo = np.array([False] * len(family) + [True] * len(photos))
    low_pair = ~is_photo[pi] & ~is_photo[pj]
    quiet_cache: dict[int, bool] = {}
    n_copies = len(LOW_DETAIL_COPIES)
    detail_table: dict = {}
    for b in args.backends:
        for hex_len in CALIBRATE_LENGTHS:
            hasher = hashers([b], hex_len)[b]
            hs = hash_images(hasher, low + photo_images)
            hc = hash_images(hasher, copies)
            details = np.array([h.detail for h in hs])
            dist = pair_distances(hs)[different]
            pair_detail = np.minimum(details[pi], details[pj])
            threshold = comparison.similar_threshold(b, hex_len)
            limit = int(np.floor(threshold * 4 * hex_len + 1e-9))
            within = dist <= limit
            for k in np.nonzero(within)[0]:
                if int(k) not in quiet_cache:   # what the verdict keeps: no colour change, no part changed
                    quiet_cache[int(k)] = (not colour_change(sigs[pi[k]], sigs[pj[k]], limits)
                                           and fine_change(sigs[pi[k]], sigs[pj[k]]) <= fine_lim)
            kept = within & np.array([quiet_cache.get(int(k), False) for k in range(len(dist))])
            literal = smallest_passing(pair_detail, within, FPR)        # the distance alone
            verdict = smallest_passing(pair_detail, kept, FPR)          # what the verdict keeps
            copy_detail = np.array([min(hs[k // n_copies].detail, h.detail) for k, h in enumerate(hc)])
            copy_beyond = np.array([hs[k // n_copies] - h > limit for k, h in enumerate(hc)])
            stable = smallest_passing(copy_detail, copy_beyond, args.copy_tolerance)
            floor = float(np.quantile(details[is_photo], args.photo_quantile))
            chosen = max(floor, verdict["D"] or 0.0)
            d = _round_down(chosen, 0.1) if chosen == floor else _round_up(chosen, 0.1)
            above = pair_detail >= d
            fit = {"min_detail": d, "similar": threshold, "max_bits": limit, "pairs": int(len(dist)),
                   "distance_only": literal, "verdict_kept": verdict, "copies_stable": stable,
                   "photo_floor": round(floor, 3),
                   "pairs_kept_at_min_detail": int((kept & above).sum()),
                   "pairs_above_min_detail": int(above.sum()),
                   "low_detail_pairs_kept_at_min_detail": int((kept & above & low_pair).sum()),
                   "low_detail_pairs": int(low_pair.sum()),
                   "copies_beyond_above_min_detail": int((copy_beyond & (copy_detail >= d)).sum()),
                   "copies": len(hc),
                   "photos_below": int((details[is_photo] < d).sum()), "photos": int(is_photo.sum()),
                   "low_detail_below": int((details[~is_photo] < d).sum()), "low_detail": len(family),
                   "photo_detail_percentiles": _percentiles(details[is_photo]),
                   "distance_only_rate_by_detail": {
                       str(x): rate(int((within & (pair_detail >= x)).sum()), int((pair_detail >= x).sum()))
                       for x in (0, 2, 4, 6, 8, 10, 15, 20, 30)}}
            detail_table.setdefault(b, {})[str(hex_len)] = fit
            log(f"{b}-{hex_len}: min_detail {d} (distance alone: {literal.get('D')}, verdict: {verdict.get('D')}, "
                f"copies stable from {stable.get('D')}, photo floor {floor:.2f}); {fit['photos_below']} of "
                f"{len(photos)} photos below ({time.time() - t_start:.0f} s)")

    provenance = {
        "about": "Written by benchmarks/verdicts.py --calibrate, on data that benchmarks/verdicts.py never "
                 f"scores: its synthetic low-detail family drawn with seed {CALIBRATION_SEED} and other words, "
                 "icons and documentation screenshots from other Debian packages, and photos of the fitting "
                 "corpus's fit split (never ../shared/photos). min_detail: the brief's rule (the smallest D at "
                 "which at most 1 in 1000 pairs of different images, low-detail and photos mixed, with both "
                 "scores >= D, fall within the 'similar' distance) has no solution with the distance alone "
                 "(distance_only: look-alike icons and screenshots keep matching at any detail, and the photos "
                 "themselves match more often than that at the shipped thresholds); counting the pairs the "
                 "verdict keeps (within the distance and no colour change) it holds from verdict_kept.D, and "
                 "min_detail is the larger of that and the photo floor (the "
                 f"{args.photo_quantile:.0%} quantile of the photos' scores, so at most that share of photos "
                 "is judged low-detail). colour: each limit just beyond the "
                 f"{args.colour_quantile:.1%} quantile of every benign copy kind of the calibration photos "
                 f"({', '.join(args.benign)}), with a {args.colour_margin:.0%} margin. layout_different: beyond "
                 "the 99.5th percentile of the colour-layout distance between low-detail images and their "
                 "JPEG-50 and rescaled copies. fine_layout.limit: just beyond the same quantile of the fine "
                 "lightness-layout change (registry.colour.fine_change) of every benign copy kind that keeps "
                 "the layout (crops and mirror images excluded: they are 'edited') and of the low-detail "
                 "images' copies, with the same margin (at least 0.5 L units); the verdict keeps a pair only "
                 "within it, and matches a low-detail copy within it.",
        "command": "python benchmarks/verdicts.py " + " ".join(args.argv),
        "data": {"low_detail": len(family), "low_detail_sources": sources, "photos": len(photos),
                 "photo_split": "fit", "photo_record": str(args.record.name),
                 "photo_record_sha256": hashlib.sha256(args.record.read_bytes()).hexdigest(),
                 "photo_groups": len({p["group"] for p in photos}),
                 "pairs": int(different.sum()), "pairs_note": "photos of the same look-alike group are not paired"},
        "min_detail": detail_table,
        "colour": {"limits": limits, "quantile": args.colour_quantile, "margin": args.colour_margin,
                   "chroma_corr_min_layout": CHROMA_CORR_MIN_LAYOUT,
                   "benign_flagged": quiet, "edits_caught": caught,
                   "benign_quantiles": {name: {k: {f"p{q}": round(float(np.quantile(v, q / 100)), 4)
                                                   for q in (0, 0.5, 50, 99.5, 100)} for k, v in per.items()}
                                        for name, per in benign_by_edit.items()},
                   "photos_mostly_gray": int(sum(gray)), "toned": toned_family},
        "low_detail": layout,
        "fine_layout": fine,
        "seconds": round(time.time() - t_start, 1),
    }
    if not args.dry_run:
        write_calibration(comparison.THRESHOLDS_FILE, detail_table, limits, layout_limit, fine_lim,
                          summary(provenance))
        comparison._calibration.cache_clear()
    return provenance


def summary(provenance: dict) -> dict:
    """What thresholds.json keeps of a calibration: how, on what, and the deciding numbers (the full
    record goes to the results folder's calibration.json)."""
    keep = ("min_detail", "photo_floor", "photos_below", "photos", "low_detail_below", "low_detail", "pairs",
            "pairs_kept_at_min_detail", "low_detail_pairs_kept_at_min_detail", "low_detail_pairs")
    detail = {b: {n: {**{k: f[k] for k in keep}, "distance_only_D": f["distance_only"].get("D"),
                      "verdict_kept_D": f["verdict_kept"].get("D"), "copies_stable_D": f["copies_stable"].get("D")}
                  for n, f in lengths.items()} for b, lengths in provenance["min_detail"].items()}
    data = {**provenance["data"], "low_detail_sources": [
        {k: s[k] for k in ("package", "version", "kind", "files", "licence") if k in s}
        for s in provenance["data"]["low_detail_sources"]]}
    colour = {k: provenance["colour"][k] for k in ("quantile", "margin", "chroma_corr_min_layout",
                                                   "edits_caught", "photos_mostly_gray", "toned")}
    colour["benign_flagged"] = {k: v["flagged"] for k, v in provenance["colour"]["benign_flagged"].items()}
    return {"about": provenance["about"], "command": provenance["command"], "data": data,
            "min_detail": detail, "colour": colour, "low_detail": provenance["low_detail"],
            "fine_layout": provenance["fine_layout"],
            "record": "benchmarks/results/verdicts/calibration.json"}


def write_calibration(path: Path, detail_table: dict, limits: dict, layout_limit: float, fine_limit: float,
                      provenance: dict) -> None:
    """Update only this script's keys of thresholds.json, atomically (temp file + os.replace)."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    table = data.setdefault("thresholds", {})
    for backend, lengths in detail_table.items():
        for hex_len, fit in lengths.items():
            table.setdefault(backend, {}).setdefault(hex_len, {})["min_detail"] = fit["min_detail"]
    data["colour"] = limits
    data["low_detail"] = {**data.get("low_detail", {}), "layout_different": layout_limit}
    data["fine_layout"] = {"limit": fine_limit}
    data["verdicts_calibration"] = provenance
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


# ================================================================================================
# Report
# ================================================================================================
def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def markdown(res: dict) -> str:
    bs = list(res["backends"])
    lines = [f"# Verdicts at {res['bits']} bits (hex_len {res['hex_len']})", "",
             f"`{res['command']}` ({res['seconds']} s). *Old rule*: distance within the `similar` threshold "
             "alone (`Comparison.same_picture`); *verdict*: `registry.comparison.judge` (kept = "
             "`fetch_again` False).", ""]
    ld = res["low_detail"]
    lines += [f"Low-detail family: {ld['images']} images ({', '.join(f'{k} {v}' for k, v in ld['by_kind'].items())}), "
              f"{ld['pairs']} pairs of different images.", "",
              "| source | version | kind | images | licence |", "|---|---|---|---|---|"]
    for s in ld["sources"]:
        lines.append(f"| {s['package']} | {s.get('version', '')} | {s['kind']} | {s['files']} | {s['licence']} |")
    ph = res["photos"]
    lines += ["", f"Photos: {ph['count']} from `{ph['folder']}`; the deep backend ({DEEP}) sees "
              f"{ph['deep_subsample']} of them and the copies of {ph['deep_low_detail_copies']} low-detail "
              f"images (all {ld['images']} for the pairs). {len(ph['mostly_gray'])} photos are nearly gray: "
              "left out of the grayscale, hue +180, red-blue swap and saturation rows (the edit changes nothing "
              "there).", "",
              "## Goals", "", "| measure | goal | " + " | ".join(bs) + " |", "|---|---|" + "---|" * len(bs)]

    def row(label, goal, fn):
        lines.append(f"| {label} | {goal} | " + " | ".join(fn(res["backends"][b]) for b in bs) + " |")

    goal_met = {b: "yes" if res["goals"][b]["all"] else "**no**" for b in bs}

    row("(a) different low-detail pairs kept: old rule", "", lambda r: f"{r['different_low_detail_pairs']['old_rule_kept']} "
        f"({_pct(r['different_low_detail_pairs']['old_rule_rate'])})")
    row("(a) different low-detail pairs kept: verdict", "<= 0.1%",
        lambda r: f"{r['different_low_detail_pairs']['kept']} ({_pct(r['different_low_detail_pairs']['rate'])})")
    row("(b) low-detail copies called different: old rule", "",
        lambda r: _pct(r["low_detail_copies_called_different"]["old_rule_rate"]))
    row("(b) low-detail copies called different: verdict", "<= 5%",
        lambda r: _pct(r["low_detail_copies_called_different"]["rate"]))
    for e in COLOUR_EDITS:
        goal = "0" if e in ("inverted", "red-blue swapped") else "<= 5%" if e in GOAL_EDITS else ""
        row(f"(c) {e} kept: old rule", "", lambda r, e=e: f"{r['colour_edits_kept'][e]['old_rule_kept']}/"
            f"{r['colour_edits_kept'][e]['copies']}")
        row(f"(c) {e} kept: verdict", goal, lambda r, e=e: f"{r['colour_edits_kept'][e]['kept']}/"
            f"{r['colour_edits_kept'][e]['copies']}")
    row("(d) photo JPEG-50 kept: old rule", "", lambda r: _pct(r["photo_jpeg50_kept"]["old_rule_rate"]))
    row("(d) photo JPEG-50 kept: verdict", "old rule - 2 points", lambda r: _pct(r["photo_jpeg50_kept"]["rate"]))
    lines.append("| all goals met | | " + " | ".join(goal_met[b] for b in bs) + " |")
    lines += ["", "## Copies of the photos (kept; recoloured: colour checks firing; edited: the lightness layout "
              "moved, as it should for a crop or a mirror image)", "",
              "| copy | " + " | ".join(bs) + " |", "|---|" + "---|" * len(bs)]
    for k in PHOTO_COPIES:
        lines.append(f"| {k} | " + " | ".join(
            f"{_pct(res['backends'][b]['photo_copies_kept'][k]['rate'])} (old {_pct(res['backends'][b]['photo_copies_kept'][k]['old_rule_rate'])}; "
            f"recoloured {res['backends'][b]['photo_copies_kept'][k]['recoloured']}, edited "
            f"{res['backends'][b]['photo_copies_kept'][k].get('edited', 0)}, low detail "
            f"{res['backends'][b]['photo_copies_kept'][k]['low_detail']})" for b in bs) + " |")
    lines += ["", "## Limits used", "", "| backend | similar | min_detail | photos below | low-detail images below |",
              "|---|---|---|---|---|"]
    for b in bs:
        d = res["backends"][b]["details"]
        lines.append(f"| {b} | {res['limits']['similar'][b]} | {res['limits']['min_detail'][b]} | "
                     f"{d['photos_below_min_detail']}/{d['photos']} | {d['low_detail_below_min']}/{ld['images']} |")
    lines += ["", f"Colour limits: `{json.dumps(res['limits']['colour'])}`; layout_different: "
              f"{res['limits']['layout_different']}; fine_layout limit: {res['limits'].get('fine_layout')}.", "",
              "## Cost per image (ms)", "",
              "*hash*: `compute` on the prepared image; *decode*: reading the file as the hasher does (photos); "
              "*extra / hash*: detail score and colour signature over *hash*; *judge a pair*: "
              "`compare_hashes` of two of these hashes (distance, detail, colours, layout), in microseconds.", "",
              "| backend | images | decode | hash | detail score | colour signature | extra / hash | extra / (decode + hash) "
              "| judge a pair (us) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for b in bs:
        for what in ("photos", "low_detail"):
            c = res["backends"][b]["cost_ms"][what]
            extra = c["detail_ms"] + c["colour_ms"]
            whole = _pct(extra / (c["decode_ms"] + c["hash_ms"])) if c.get("decode_ms") else ""
            lines.append(f"| {b} ({what}) | {c['images']} | {c.get('decode_ms') or ''} | {c['hash_ms']} | "
                         f"{c['detail_ms']} | {c['colour_ms']} | {_pct(c['extra_share'])} | {whole} | "
                         f"{c.get('judge_us', '')} |")
    lines += ["", "Kept pairs of different low-detail images, by kinds and by sources:", ""]
    for b in bs:
        r = res["backends"][b]["different_low_detail_pairs"]
        fmt = lambda k: ", ".join(f"{x} {n}" for x, n in sorted(k.items(), key=lambda t: -t[1])) or "none"
        lines.append(f"- {b}: {fmt(r['kept_by_kinds'])}; {fmt(r['kept_by_sources'])}")
    lines += ["", "Examples (the first kept pairs, phash or the first backend):", ""]
    b0 = "phash" if "phash" in bs else bs[0]
    for e in res["backends"][b0]["different_low_detail_pairs"]["examples"][:12]:
        lines.append(f"- `{e['a']}` / `{e['b']}`: distance {e['distance']}, detail {e['detail']}")
    return "\n".join(lines) + "\n"


# ================================================================================================
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos",
                    help="photos scored by the evaluation (never used by --calibrate)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS))
    ap.add_argument("--per-kind", type=int, default=16, help="synthetic low-detail images of each kind")
    ap.add_argument("--no-packages", action="store_true", help="synthetic low-detail images only")
    ap.add_argument("--package-cache", type=Path, default=PACKAGE_CACHE)
    ap.add_argument("--max-photos", type=int, default=0, help="use at most this many photos (0: all)")
    ap.add_argument("--deep-photos", type=int, default=24, help="photos the deep backend sees")
    ap.add_argument("--deep-copies", type=int, default=40, help="low-detail images whose copies the deep backend sees")
    ap.add_argument("--cost-images", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--calibrate", action="store_true", help="fit the limits and write registry/data/thresholds.json")
    ap.add_argument("--dry-run", action="store_true", help="with --calibrate: fit and report, write nothing")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--calibration-photos", type=int, default=150)
    ap.add_argument("--record", type=Path, default=ROOT / "benchmarks" / "corpus_sources.json",
                    help="the corpus record whose fit split --calibrate draws photos from (the shipped limits: "
                         "the 720-photo record, git show b0cd78b:benchmarks/corpus_sources.json)")
    ap.add_argument("--colour-quantile", type=float, default=0.995)
    ap.add_argument("--colour-margin", type=float, default=0.1)
    ap.add_argument("--benign", nargs="+", default=list(BENIGN_EDITS), choices=[*BENIGN_EDITS, *MORE_BENIGN],
                    help="benign copy kinds the colour limits must stay quiet on")
    ap.add_argument("--photo-quantile", type=float, default=0.01,
                    help="min_detail is at least this quantile of the calibration photos' detail scores")
    ap.add_argument("--copy-tolerance", type=float, default=0.01,
                    help="reported: the detail from which at most this share of low-detail copies drift beyond "
                         "the distance")
    ap.add_argument("--smoke", action="store_true", help="a tiny run: one image of each kind, no packages")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.smoke:
        args.per_kind, args.no_packages = 1, True
        args.deep_photos, args.deep_copies, args.cost_images = 2, 2, 2
        args.calibration_photos = min(args.calibration_photos, 6)
    if args.calibrate:
        res = calibrate(args)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "calibration.json").write_text(json.dumps(res, indent=1) + "\n")
        return res
    res = evaluate(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(res))
    return res


if __name__ == "__main__":
    main()
