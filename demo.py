"""Image Deep Hash in the browser: hash two images, see how far apart they are, and why.

    python demo.py [--host 127.0.0.1] [--port 7860] [--share]

Also the Hugging Face Spaces ``app_file``. Every action is also an API endpoint (``/hash``,
``/compare``, ``/compare_all``) for ``gradio_client``. The app never takes a file path, module or
weights file from a user: uploads go through ``registry.load_image``; backend names come from
``registry.available()`` and timm model names from timm's own list.
"""
from __future__ import annotations

import argparse
import functools
import html
import os
import sys
import threading
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a hashing service

import gradio as gr  # noqa: E402
from PIL import Image, ImageChops, ImageDraw  # noqa: E402

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import registry  # noqa: E402
from registry import HasherError, ImageError  # noqa: E402

EXAMPLES = ROOT / "assets" / "examples"
DEFAULT_BACKEND = "phash"
DEFAULT_MODEL = "tf_efficientnet_lite0"
#: Well-known timm models offered in the model menu besides the offline default; each needs its
#: weights in the local Hugging Face cache (the server's, never the user's).
OTHER_MODELS = ["vit_small_patch16_224", "convnext_tiny", "resnet50", "efficientnet_b0",
                "mobilenetv3_large_100"]
MAX_FILE_SIZE = os.environ.get("IMAGE_DEEP_HASH_MAX_UPLOAD", "20mb")
QUEUE_SIZE = int(os.environ.get("IMAGE_DEEP_HASH_QUEUE_SIZE", "32"))
CONCURRENCY = int(os.environ.get("IMAGE_DEEP_HASH_CONCURRENCY", "2"))
#: Gradio deletes cached uploads older than this many seconds, checking as often.
CACHE_SECONDS = 600

try:  # On Hugging Face ZeroGPU Spaces, GPU work must run inside spaces.GPU; elsewhere a no-op.
    import spaces
    gpu = spaces.GPU
except ImportError:  # pragma: no cover - depends on the host
    def gpu(fn):
        return fn

ABOUT = """
**What is this?** A checksum such as SHA-256 changes completely when one pixel changes. A *perceptual
hash* changes a little when the image changes a little, so the **Hamming distance** between two hashes
(how many bits differ) says *how much* an image changed: re-encoded, resized, cropped, or a different
picture altogether.

| backend | good at | weak at |
|---|---|---|
| **aHash** (average) | fastest; re-encoding, resizing | crops, local edits, gamma |
| **pHash** (DCT) | re-encoding, resizing, blur, light edits | crops, rotation, mirror |
| **dHash** (difference) | fast; brightness, re-encoding | crops, rotation, mirror |
| **timm** (deep) | crops, rotation, mirror, heavy edits: it knows *what* is pictured | slower; similar scenes sit closer |

**Hex length** is the hash length in hexadecimal digits; each digit is 4 bits. Longer hashes see finer
detail and measure distance more precisely. 16 digits (64 bits) is the usual choice.
"""


class UploadedImage(gr.Image):
    """gr.Image that hands over the uploaded file itself rather than Gradio's re-encoded copy.

    Hashing must see the same bytes a user would hash with the library, and unreadable uploads must
    reach registry.load_image, which explains them, instead of failing inside Gradio's own decoding.
    """

    is_template = True  # render with the stock image widget

    def preprocess(self, payload):
        if payload is None:
            return None
        if payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)  # Gradio has already checked that a user uploaded it
        if (payload.url or "").startswith("data:"):  # webcam and clipboard images
            return super().preprocess(payload)
        raise gr.Error("Upload the image itself; links and server paths are not accepted.")


# --- what the UI offers ------------------------------------------------------------------------
def backend_choices() -> list[tuple[str, str]]:
    return [(f"{i.name} — {i.summary}" if i.summary else i.name, i.name)
            for i in registry.available() if i.error is None]


def broken_plugins_markdown() -> str:
    broken = [i for i in registry.available() if i.error is not None]
    if not broken:
        return "All installed hashers loaded."
    return "\n".join(f"- **{html.escape(i.name)}** ({html.escape(i.origin)}): "
                     f"`{html.escape(i.error)}`" for i in broken)


def model_choices() -> list[tuple[str, str]]:
    choices = [(f"{DEFAULT_MODEL} (built in, offline)", DEFAULT_MODEL)]
    try:
        from hashers.deep import _cached_hub_file, _timm
        timm = _timm()
        for name in OTHER_MODELS:
            cached = _cached_hub_file(timm, name) is not None
            choices.append((name + ("" if cached else " (needs weights in the server's cache)"), name))
    except Exception:  # torch/timm missing: the backend itself will say so
        pass
    return choices


def _info(backend: str):
    for info in registry.available():
        if info.name == backend and info.error is None:
            return info
    raise gr.Error(f"Unknown backend {backend!r}. Choose one from the list.")


def _hasher(backend: str, hex_len, model: Optional[str] = None):
    """The registry validates backend, length and model itself; user_errors words its ValueErrors."""
    try:
        hex_len = int(hex_len)
    except (TypeError, ValueError):
        raise gr.Error(f"Hex length must be a whole number, got {hex_len!r}.") from None
    options = {"model": model or DEFAULT_MODEL} if backend == "timm" else {}
    return registry.create(backend, hex_len=hex_len, **options)


def user_errors(fn):
    """Turn every failure a user can cause into a readable message; the server keeps serving."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ImageError as exc:
            raise gr.Error(f"Unreadable image: {exc}") from None
        except (HasherError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        except MemoryError:
            raise gr.Error("Out of memory: try a smaller image.") from None
        except Exception as exc:  # a plugin's bug must not take the app down
            raise gr.Error(f"Unexpected error: {type(exc).__name__}: {exc}") from None
    return wrapper


def _need(image, label: str):
    if image is None:
        raise gr.Error(f"Please add {label} first.")
    try:
        return registry.load_image(image)
    except ImageError as exc:  # name the upload, not where the server keeps it
        message = str(exc)
        if isinstance(image, str):
            message = message.replace(f"'{image}'", f"'{Path(image).name}'")
        raise gr.Error(f"{label[0].upper()}{label[1:]} is unreadable: {message}") from None


# --- pictures of the result --------------------------------------------------------------------
def bit_grids(hash_a, hash_b) -> Image.Image:
    """Both hashes as grids of cells (dark = 1), with the differing bits outlined in red."""
    rows, cols = hash_a.shape
    cell = max(4, min(32, 240 // max(rows, cols)))
    gap, pad = cell * 2, 8
    width = 2 * cols * cell + gap + 2 * pad
    height = rows * cell + 2 * pad
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    diff = (hash_a.bits != hash_b.bits).reshape(rows, cols)
    for k, h in enumerate((hash_a, hash_b)):
        x0 = pad + k * (cols * cell + gap)
        m = h.matrix
        for r in range(rows):
            for c in range(cols):
                box = (x0 + c * cell, pad + r * cell, x0 + (c + 1) * cell - 1, pad + (r + 1) * cell - 1)
                fill = (40, 40, 60) if m[r, c] else (225, 228, 235)
                if diff[r, c]:
                    fill = (220, 40, 40) if m[r, c] else (255, 170, 170)
                draw.rectangle(box, fill=fill)
    return img


def blend_and_difference(img_a: Image.Image, img_b: Image.Image) -> tuple[Image.Image, Image.Image]:
    a = img_a.convert("RGB")
    a.thumbnail((512, 512))
    b = img_b.convert("RGB").resize(a.size, Image.Resampling.LANCZOS)
    return Image.blend(a, b, 0.5), ImageChops.difference(a, b)


VERDICT_STYLE = {"identical": ("#15803d", "✔"), "similar": ("#1d4ed8", "≈"), "different": ("#b91c1c", "✘")}


def verdict_html(result) -> str:
    colour, mark = VERDICT_STYLE[result.verdict]
    cosine = (f"<div>Cosine similarity of the embeddings: <b>{result.cosine:.3f}</b></div>"
              if result.cosine is not None else "")
    return (f"<div id='verdict' data-verdict='{result.verdict}' style='border-left:6px solid {colour};"
            f"padding:8px 14px'>"
            f"<div style='font-size:1.4em;color:{colour}'><b>{mark} {html.escape(result.verdict_text)}</b></div>"
            f"<div>Hamming distance <b id='distance'>{result.distance}</b> of {result.bits} bits · "
            f"similarity <b>{result.similarity:.1%}</b> · "
            f"“slightly changed” up to {result.threshold:.0%} of bits differing</div>{cosine}</div>")


# --- the actions (also the API) ----------------------------------------------------------------
@gpu
@user_errors
def hash_image(image, backend: str = DEFAULT_BACKEND, hex_len: float = 16, model: str = DEFAULT_MODEL) -> str:
    """Hash one image; returns the hex string."""
    hasher = _hasher(backend, hex_len, model)
    return str(hasher.hash(_need(image, "the image")))


@gpu
@user_errors
def compare_images(image_a, image_b, backend: str = DEFAULT_BACKEND, hex_len: float = 16,
                   model: str = DEFAULT_MODEL):
    """Compare two images; returns both hashes, the verdict, pictures and a JSON summary."""
    img_a, img_b = _need(image_a, "image A"), _need(image_b, "image B")
    hasher = _hasher(backend, hex_len, model)
    result = registry.compare_with(hasher, img_a, img_b)
    blend, difference = blend_and_difference(img_a, img_b)
    summary = result.to_dict()
    if backend == "timm":
        summary["model"] = hasher.options["model"]
    return (str(result.hash_a), str(result.hash_b), verdict_html(result), summary,
            bit_grids(result.hash_a, result.hash_b), blend, difference)


@gpu
@user_errors
def compare_all(image_a, image_b, hex_len: float = 16):
    """The pair under every backend at once (each at this length if it supports it)."""
    img_a, img_b = _need(image_a, "image A"), _need(image_b, "image B")
    rows = []
    for info in registry.available():
        if info.error is not None:
            continue
        if int(hex_len) not in info.hex_lengths:
            rows.append([info.name, "", "", None, None, None, f"n/a: supports {info.hex_lengths_text}"])
            continue
        try:
            r = registry.compare_with(registry.create(info.name, hex_len=int(hex_len)), img_a, img_b)
            rows.append([info.name, str(r.hash_a), str(r.hash_b), r.distance, r.bits,
                         round(100 * r.similarity, 1), r.verdict])
        except (HasherError, ValueError) as exc:  # one broken plugin must not hide the others
            rows.append([info.name, "", "", None, None, None, f"error: {exc}"])
    return rows


def on_backend_change(backend: str, hex_len):
    """Say which lengths a backend takes; move the slider only if it cannot take the current one."""
    info = _info(backend)
    lengths = sorted(info.hex_lengths)
    note = "" if len(lengths) == 256 else f" — {backend} supports {info.hex_lengths_text} only"
    slider = gr.update(info=f"1 hex digit = 4 bits{note}")
    if int(hex_len) not in info.hex_lengths:
        slider = gr.update(value=min(lengths, key=lambda n: abs(n - int(hex_len))),
                           info=f"1 hex digit = 4 bits{note}")
    return slider, gr.update(visible=backend == "timm")


# --- layout --------------------------------------------------------------------------------------
CSS = """
#verdict { margin-top: 4px; }
.hash textarea, .hash input { font-family: ui-monospace, monospace; }
"""


def create_app() -> gr.Blocks:
    with gr.Blocks(title="Image Deep Hash", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as app:
        gr.Markdown("# Image Deep Hash\nHow much did this image change? Put two images side by side, "
                    "pick a hash, and compare. Click an example below to start.")
        with gr.Row():
            backend = gr.Dropdown(backend_choices(), value=DEFAULT_BACKEND, label="Hashing backend",
                                  scale=3, elem_id="backend")
            model = gr.Dropdown(model_choices(), value=DEFAULT_MODEL, label="timm model", visible=False,
                                scale=2, elem_id="model")
            hex_len = gr.Slider(1, 256, value=16, step=1, label="Hash length (hex digits)",
                                info="1 hex digit = 4 bits", scale=2, elem_id="hex_len")
        with gr.Row(equal_height=True):
            with gr.Column():
                image_a = UploadedImage(label="Image A", type="filepath", image_mode=None,
                                        sources=["upload", "clipboard", "webcam"], elem_id="image_a")
                hash_a = gr.Textbox(label="Hash of A", interactive=False, elem_classes="hash",
                                    elem_id="hash_a")
            with gr.Column():
                image_b = UploadedImage(label="Image B", type="filepath", image_mode=None,
                                        sources=["upload", "clipboard", "webcam"], elem_id="image_b")
                hash_b = gr.Textbox(label="Hash of B", interactive=False, elem_classes="hash",
                                    elem_id="hash_b")
        with gr.Row():
            compare_btn = gr.Button("Compare", variant="primary", elem_id="compare")
            all_btn = gr.Button("Compare with every backend", elem_id="compare_all")
        verdict = gr.HTML(elem_id="verdict_box")
        with gr.Row():
            grids = gr.Image(label="Bits of A and B (red: the bits that differ)", type="pil",
                             interactive=False, format="png")
            blend = gr.Image(label="Blend of A and B", type="pil", interactive=False, format="png")
            difference = gr.Image(label="Difference |A − B|", type="pil", interactive=False, format="png")
        table = gr.Dataframe(headers=["backend", "hash A", "hash B", "distance", "bits", "similarity %",
                                      "verdict"], label="Every backend on this pair", interactive=False,
                             elem_id="table")
        summary = gr.JSON(label="Result as JSON (what /compare returns)")

        ex = EXAMPLES
        gr.Examples(
            examples=[[str(ex / "parrots.png"), str(ex / "parrots_q40.jpg"), "phash"],
                      [str(ex / "parrots.png"), str(ex / "parrots_crop25.png"), "timm"],
                      [str(ex / "parrots.png"), str(ex / "parrots_mirror.png"), "timm"],
                      [str(ex / "parrots.png"), str(ex / "parrots_mirror.png"), "phash"],
                      [str(ex / "parrots.png"), str(ex / "lighthouse.png"), "dhash"]],
            inputs=[image_a, image_b, backend],
            label="Examples: a JPEG copy, a crop, a mirror image, two different photos",
        )
        with gr.Accordion("What do the backends and the hash length mean?", open=False):
            gr.Markdown(ABOUT)
        with gr.Accordion("Installed hasher plugins that failed to load", open=False):
            gr.Markdown(broken_plugins_markdown())

        backend.change(on_backend_change, [backend, hex_len], [hex_len, model], api_visibility="private")
        image_a.upload(hash_image, [image_a, backend, hex_len, model], hash_a, api_name="hash")
        image_b.upload(hash_image, [image_b, backend, hex_len, model], hash_b, api_visibility="private")
        compare_btn.click(compare_images, [image_a, image_b, backend, hex_len, model],
                          [hash_a, hash_b, verdict, summary, grids, blend, difference], api_name="compare")
        all_btn.click(compare_all, [image_a, image_b, hex_len], table, api_name="compare_all")
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return app


def launch_kwargs() -> dict[str, Any]:
    return {"max_file_size": MAX_FILE_SIZE, "css": CSS, "theme": gr.themes.Soft(), "show_error": True}


def _warm_default_model() -> None:
    try:
        registry.create("timm")
    except Exception:  # the app reports it when the user picks timm
        pass


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """Loopback only and no public link unless asked: a hashing server takes files from strangers."""
    parser = argparse.ArgumentParser(description="Image Deep Hash web app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1, or GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port (default 7860, or GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    threading.Thread(target=_warm_default_model, daemon=True).start()
    create_app().launch(server_name=args.host, server_port=args.port, share=args.share,
                        **launch_kwargs())


if __name__ == "__main__":
    main()
