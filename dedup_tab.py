"""The "Find duplicates" tab: upload images (or a zip of them) and see the groups of near-duplicates.

Handlers are plain functions (tests call them without a browser); ``build()`` lays the tab out
inside the page that demo.py assembles. Uploads are read into memory: a zip's entries are opened
one by one under limits on their number, their total unpacked size and their compression ratio,
and nothing is ever written to a path that an entry's name chooses (names are only shown, escaped).
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Optional

import gradio as gr

from registry.dedup import group_hashes, radius_for
from registry.drawing import thumbnail
from registry.files import image_extensions

import compare_tab as common

MAX_IMAGES = 100
MAX_ZIP_BYTES = 200 * 1024 * 1024      # unpacked, all entries together
MAX_RATIO = 100                        # unpacked / packed size of one entry (zip bombs)
THUMB_SIDE = 192
LIMITS_TEXT = (f"Up to {MAX_IMAGES} images, or a zip of them (at most {MAX_IMAGES} images and "
               f"{MAX_ZIP_BYTES // 2**20} MB unpacked). Each upload at most {{max_file}}.")


def _refuse(message: str) -> gr.Error:
    return common.refuse("find_duplicates", message)


def _zip_entries(path: str, budget: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of the images in a zip, within the limits; folders, hidden files and
    non-images are passed over. Entry names never become paths on this server."""
    exts = image_extensions()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(f"{Path(path).name} is not a readable zip file ({exc}).") from None
    out: list[tuple[str, bytes]] = []
    total = 0
    with archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir() or name.name.startswith(".") or "__MACOSX" in name.parts or \
                    name.suffix.lower() not in exts:   # folders, macOS metadata, hidden files
                continue
            if len(out) >= budget:
                raise _refuse(f"The zip holds more than {MAX_IMAGES} images; upload at most {MAX_IMAGES}.")
            if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 20:
                raise _refuse(f"{name.name} in the zip is compressed more than {MAX_RATIO}:1; refused "
                              "(a zip bomb?).")
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise _refuse(f"The zip unpacks to more than {MAX_ZIP_BYTES // 2**20} MB; refused.")
            try:
                with archive.open(info) as member:
                    data = member.read(info.file_size + 1)   # never more than the header promised
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise _refuse(f"Cannot read {name.name} from the zip ({exc}).") from None
            if len(data) > info.file_size:
                raise _refuse(f"{name.name} in the zip is larger than its header says; refused.")
            out.append((str(name), data))
    return out


def read_uploads(files: Optional[list]) -> list[tuple[str, bytes]]:
    """(display name, bytes) for every uploaded image and every image inside an uploaded zip."""
    if not files:
        raise _refuse("Please add some images (or a zip of them) first.")
    items: list[tuple[str, bytes]] = []
    for f in files:
        path = f if isinstance(f, str) else getattr(f, "name", None) or getattr(f, "path", None)
        if path is None:
            continue
        if zipfile.is_zipfile(path):
            items.extend((f"{Path(path).name}/{n}", d) for n, d in _zip_entries(path, MAX_IMAGES - len(items)))
        else:
            if len(items) >= MAX_IMAGES:
                raise _refuse(f"At most {MAX_IMAGES} images at a time.")
            items.append((Path(path).name, Path(path).read_bytes()))
    if len(items) > MAX_IMAGES:
        raise _refuse(f"At most {MAX_IMAGES} images at a time.")
    if not items:
        raise _refuse("No images found in the upload.")
    seen: dict[str, int] = {}
    named = []
    for name, data in items:  # two uploads called photo.jpg stay apart
        seen[name] = seen.get(name, 0) + 1
        named.append((name if seen[name] == 1 else f"{name} ({seen[name]})", data))
    return named


def _thumbnail(data: bytes) -> Optional[str]:
    img = thumbnail(data, THUMB_SIDE)
    return None if img is None else common.picture_file(img)


def _json_file(payload: dict[str, Any]) -> str:
    common.PICTURES.mkdir(exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="duplicates-", suffix=".json", dir=common.PICTURES)
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2)
    return path


@common.gpu
@common.user_errors
def find_duplicates(files, backend: str = common.DEFAULT_BACKEND, hex_len: float = common.DEFAULT_HEX_LEN,
                    model: Optional[str] = None):
    """(summary markdown, groups as [[(thumbnail, caption), ...], ...], path of the JSON result)."""
    items = read_uploads(files)
    hasher = common.make_hasher(backend, hex_len, model)
    names, hashes, digests, unreadable = [], [], [], []
    for (name, data), record in zip(items, hasher.iter_hashes([d for _, d in items])):
        if record.error is not None:
            unreadable.append((name, str(record.error)))
            continue
        names.append(name)
        hashes.append(record.hash)
        digests.append(hashlib.sha256(data).hexdigest())
    radius = radius_for(hasher, hasher.hex_len, type(hasher).similar_threshold)
    groups = group_hashes(names, hashes, radius, digests)
    data_of = dict(items)
    shown = [[(_thumbnail(data_of[n]), f"{n} · {'first' if k == 0 else f'{d} bits'}")
              for k, (n, d) in enumerate(zip(g.files, g.distances))] for g in groups]
    payload = {"groups": [list(g.files) for g in groups], "distances": [list(g.distances) for g in groups],
               "unreadable": [n for n, _ in unreadable], "backend": hasher.name, "radius": radius,
               "bits": hasher.bit_count, "files": len(items)}
    text = (f"**{len(groups)} group{'s' if len(groups) != 1 else ''} of near-duplicates** among "
            f"{len(items)} images ({common.label(common.backend_info(backend))}, within {radius} of "
            f"{hasher.bit_count} bits; distances are to each group's first image).")
    if unreadable:
        text += "\n\nUnreadable: " + "; ".join(f"{html.escape(n)} ({html.escape(m)})" for n, m in unreadable)
    return text, shown, _json_file(payload)


def build(max_file: str = "20mb") -> None:
    """The tab's widgets and wiring, inside the current ``gr.Blocks``."""
    gr.Markdown("Which of these images are copies of one another? " + LIMITS_TEXT.format(max_file=max_file),
                elem_id="dedup_intro")
    with gr.Row():
        files = gr.File(file_count="multiple", file_types=["image", ".zip"], label="Images, or a zip",
                        elem_id="dedup_files")
        with gr.Column():
            backend = gr.Dropdown(common.backend_choices(), value=common.DEFAULT_BACKEND,
                                  label="Hashing backend", elem_id="dedup_backend")
            hex_len = gr.Slider(1, 256, value=common.DEFAULT_HEX_LEN, step=1, label="Hash length (hex digits)",
                                info=common.LENGTH_INFO, elem_id="dedup_hex_len")
            button = gr.Button("Find duplicates", variant="primary", elem_id="find_duplicates")
    summary = gr.Markdown(elem_id="dedup_summary")
    groups = gr.State([])
    download = gr.File(label="The groups as JSON", interactive=False, elem_id="dedup_json")

    @gr.render(inputs=groups)
    def show(found):
        for number, group in enumerate(found or [], start=1):
            gr.Gallery(value=[item for item in group if item[0]], label=f"Group {number}: {len(group)} images",
                       columns=6, height="auto", object_fit="contain", allow_preview=True,
                       elem_classes="dedup-group")

    button.click(find_duplicates, [files, backend, hex_len], [summary, groups, download],
                 api_name="find_duplicates")
    gr.on([files.change, backend.change, hex_len.change], lambda: ("", [], None), None,
          [summary, groups, download], queue=False, show_progress="hidden", api_visibility="private")
