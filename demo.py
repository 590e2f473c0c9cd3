"""Image Deep Hash in the browser: hash two images, see how far apart they are, and why.

    python demo.py [--host 127.0.0.1] [--port 7860] [--share]

Also the Hugging Face Spaces ``app_file``. This file holds the page's layout and the launch; the
handlers live in ``compare_tab.py`` and the pictures in ``registry/drawing.py``. Every action is also an
API endpoint (``/hash``, ``/compare``, ``/compare_all``) for ``gradio_client``. The app never takes a
file path, module or weights file from a user: uploads go through ``registry.load_image``; backend
names come from ``registry.available()`` and option values from each backend's ``option_choices()``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a hashing service

import gradio as gr  # noqa: E402

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import compare_tab as tab  # noqa: E402
import dedup_tab  # noqa: E402
import video_tab  # noqa: E402
# The actions stay importable from the app file, as before the handlers moved to compare_tab.py.
from compare_tab import backend_choices, compare_all, compare_images, hash_image  # noqa: E402,F401
from compare_tab import unusable_markdown as broken_plugins_markdown  # noqa: E402,F401

EXAMPLES = ROOT / "assets" / "examples"
#: (image B, backend, what the pair shows); image A is always parrots.png.
EXAMPLE_PAIRS = [("parrots_q40.jpg", "phash", "A JPEG copy"),
                 ("parrots_crop25.png", "timm", "A 25% crop"),
                 ("parrots_mirror.png", "timm", "A mirror image"),
                 ("parrots_mirror.png", "phash", "A mirror image"),
                 ("lighthouse.png", "dhash", "Two different photos")]
MAX_FILE_SIZE = tab.MAX_FILE_SIZE
QUEUE_SIZE = int(os.environ.get("IMAGE_DEEP_HASH_QUEUE_SIZE", "32"))
CONCURRENCY = int(os.environ.get("IMAGE_DEEP_HASH_CONCURRENCY", "2"))
#: Gradio deletes cached uploads older than this many seconds, checking as often.
CACHE_SECONDS = 600

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
| **deep (timm)** | crops, rotation, mirror, heavy edits: it knows *what* is pictured | slower; similar scenes sit closer |

**Hash length** is counted in hexadecimal digits; each digit is 4 bits. Longer hashes see finer
detail and measure distance more precisely. 16 digits (64 bits) is the usual choice; below 4 digits
(16 bits) unrelated images often share a hash, and the app says so.

**Models.** The model menu lists only the models that can run on this server: the built-in
EfficientNet-Lite0, whose weights ship with the package, and any other well-known timm model whose
weights are already in the server's cache. Any other timm model works from Python or the command
line, with its weights in your own cache or in a local file:
`image-deep-hash hash -b timm -o model=resnet50 -o weights=/path/to/resnet50.pth photo.jpg`.
"""

CSS = """
#verdict_box { min-height: 3.5em; }
#verdict .headline { font-size: 1.3em; }
@media (max-width: 600px) { #verdict .headline { font-size: 1.1em; } }
#few_bits { margin: 4px 0; }
.verdict-empty { color: var(--body-text-color-subdued); padding: 8px 14px; }
.hash textarea { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
                 word-break: break-all; overflow-wrap: anywhere; }
.caption p { margin: 0; font-size: 0.9em; color: var(--body-text-color-subdued); }
"""

#: Browser-side: bring the verdict into view when it is not (on a phone the examples sit far above it).
SHOW_VERDICT = """(...args) => {
  const box = document.getElementById('verdict_box');
  const r = box && box.getBoundingClientRect();
  if (r && (r.top < 0 || r.top > window.innerHeight - 80))
    box.scrollIntoView({behavior: 'smooth', block: 'start'});
  return args;
}"""


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
        raise tab.refuse("upload", "Upload the image itself; links and server paths are not accepted.")


def clear(*outputs: gr.components.Component) -> str:
    """Browser-side function that empties ``outputs`` at once, with no round trip to the server, so
    that it always lands before the result computed for the new inputs."""
    blank = [tab.PLACEHOLDER if isinstance(c, gr.HTML) else "" if isinstance(c, gr.Textbox)
             else {"headers": tab.TABLE_HEADERS, "data": []} if isinstance(c, gr.Dataframe) else None
             for c in outputs]
    return f"() => {json.dumps(blank)}"


def examples() -> tuple[list[list[str]], list[str]]:
    """The example pairs whose backend can run here, and their labels."""
    names = dict((value, text) for text, value in backend_choices())
    rows = [(b, backend, what) for b, backend, what in EXAMPLE_PAIRS if backend in names]
    return ([[str(EXAMPLES / "parrots.png"), str(EXAMPLES / b), backend] for b, backend, _ in rows],
            [f"{what} · {names[backend]}" for _, backend, what in rows])


def create_app() -> gr.Blocks:
    """The page: a heading, then one tab per task. The compare tab is laid out here; every other tab
    is laid out by its own module's ``build()`` (as Gradio's ``blocks_plug`` demo does)."""
    with gr.Blocks(title="Image Deep Hash", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as app:
        gr.Markdown("# Image Deep Hash", elem_id="title")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Compare two images", id="compare", elem_id="tab_compare"):
                compare_layout()
            with gr.Tab("Find duplicates", id="dedup", elem_id="tab_dedup"):
                dedup_tab.build(MAX_FILE_SIZE)
            with gr.Tab("Video", id="video", elem_id="tab_video"):
                video_tab.build()
            # Further tabs go here, one line each.
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return app


def compare_layout() -> None:
    """The compare tab: examples first, then the inputs, the verdict and the pictures of the bits."""
    # The inputs are made first and placed below, so that the examples can sit above them.
    image_a, image_b = (UploadedImage(label=f"Image {x}", type="filepath", image_mode=None, height=200,
                                      min_width=140, sources=["upload", "clipboard", "webcam"],
                                      elem_id=f"image_{x.lower()}", render=False) for x in "AB")
    backend = gr.Dropdown(backend_choices(), value=tab.DEFAULT_BACKEND, label="Hashing backend",
                          info=tab.summary(tab.DEFAULT_BACKEND), elem_id="backend", render=False)
    model_choices = tab.all_menu_choices()
    model = gr.Dropdown(model_choices, value=model_choices[0][1] if model_choices else None,
                        label="Model", info="Only the models this server can run; others: see “About”",
                        visible=bool(tab.menu_choices(tab.DEFAULT_BACKEND)), elem_id="model",
                        render=False)
    hex_len = gr.Slider(1, 256, value=tab.DEFAULT_HEX_LEN, step=1, label="Hash length (hex digits)",
                        info=tab.LENGTH_INFO, elem_id="hex_len", render=False)
    dihedral = gr.Checkbox(False, label="Also find rotated and flipped copies",
                           info="B turned by 90°, 180° or 270°, or mirrored, still matches", elem_id="dihedral",
                           render=False)
    inputs = [image_a, image_b, backend, hex_len, model]   # what an example sets
    compare_inputs = [*inputs, dihedral]

    gr.Markdown("How much did this image change? Click an example to compare a "
                "pair, or add two images, pick a hash and press **Compare**.")
    rows, labels = examples()
    gallery = gr.Examples(rows, inputs, example_labels=labels, cache_examples=False,
                          label="Examples: click one to compare the pair", elem_id="examples")
    with gr.Row():
        with gr.Column(min_width=320):
            backend.render()
            model.render()
            hex_len.render()
            dihedral.render()
            with gr.Row():  # right above Compare, where a "please add" message is in sight
                image_a.render()
                image_b.render()
            with gr.Row():
                compare_btn = gr.Button("Compare", variant="primary", elem_id="compare")
                all_btn = gr.Button("Compare with every backend", elem_id="compare_all")
        with gr.Column(min_width=320):
            verdict = gr.HTML(tab.PLACEHOLDER, elem_id="verdict_box")
            hash_a = gr.Textbox(label="Hash of A", lines=1, max_lines=12, interactive=False,
                                elem_classes="hash", elem_id="hash_a", buttons=["copy"])
            hash_b = gr.Textbox(label="Hash of B", lines=1, max_lines=12, interactive=False,
                                elem_classes="hash", elem_id="hash_b", buttons=["copy"])
            grids = gr.Image(label="Bits of A and B", show_label=False, type="filepath", interactive=False,
                             format="png", elem_id="grids")
            gr.Markdown("Bits of A and B: dark = 1, light = 0, red = the bits that differ.",
                        elem_classes="caption")
    with gr.Row():
        blend = gr.Image(label="Blend of A and B", type="filepath", interactive=False, format="png")
        difference = gr.Image(label="Difference |A − B|", type="filepath", interactive=False, format="png")
    table = gr.Dataframe(headers=tab.TABLE_HEADERS, label="Every backend on this pair",
                         interactive=False, elem_id="table")
    with gr.Accordion("Result as JSON (what /compare returns)", open=False):
        summary = gr.JSON(show_label=False, elem_id="summary")
    with gr.Accordion("About the backends, the hash length and the models", open=False):
        gr.Markdown(ABOUT)
    with gr.Accordion("Backends that cannot run on this server", open=False):
        gr.Markdown(tab.unusable_markdown())

    outputs = [hash_a, hash_b, verdict, summary, grids, blend, difference]
    pair = [verdict, summary, grids, blend, difference, table]
    backend.change(tab.on_backend_change, [backend, hex_len, model], [hex_len, backend, model],
                   queue=False, show_progress="hidden", api_visibility="private")
    hashing_a = image_a.upload(tab.hash_image, [image_a, backend, hex_len, model], hash_a,
                               api_name="hash", trigger_mode="always_last")
    hashing_b = image_b.upload(tab.hash_image, [image_b, backend, hex_len, model], hash_b,
                               trigger_mode="always_last", api_visibility="private")
    comparing = compare_btn.click(tab.compare_images, compare_inputs, outputs, api_name="compare",
                                  validator=tab.check_pair, show_progress_on=[verdict])
    comparing_all = all_btn.click(tab.compare_all, [image_a, image_b, hex_len], table,
                                  api_name="compare_all", validator=tab.check_images)
    # An example runs as soon as it is loaded, and the last one clicked wins: Gradio's run_on_click
    # would skip a click while the previous example still runs, leaving that result beside the new
    # pair. (A click does not cancel the previous example's run: the cancel could reach its own.)
    running_example = gallery.load_input_event.then(
        tab.compare_images, compare_inputs, outputs, js=SHOW_VERDICT, show_progress_on=[verdict],
        trigger_mode="always_last", api_visibility="private")
    # Again once the answer is there: the example's pictures loading above it can push it out of view.
    running_example.then(None, None, None, js=SHOW_VERDICT, api_visibility="private")

    # A result never stays beside inputs that did not produce it: any change empties the outputs
    # in the browser at once, and a person's edit also cancels work still running for the old inputs.
    gr.on([image_a.change], None, None, [hash_a, *pair], js=clear(hash_a, *pair))
    gr.on([image_b.change], None, None, [hash_b, *pair], js=clear(hash_b, *pair))
    gr.on([backend.change, hex_len.change, model.change], None, None, [hash_a, hash_b, *pair],
          js=clear(hash_a, hash_b, *pair))
    gr.on([dihedral.change], None, None, [*pair], js=clear(*pair))
    pair_work = [comparing, comparing_all, running_example]
    gr.on([backend.input, hex_len.input, model.input, dihedral.input], None, cancels=pair_work)
    # The hashes of the images already there are recomputed for the new settings; the new run
    # replaces the old one (cancelling it outright would leave an error badge on the hash).
    for image, shown, hashing in ((image_a, hash_a, hashing_a), (image_b, hash_b, hashing_b)):
        gr.on([backend.input, hex_len.input, model.input], tab.rehash, [image, backend, hex_len, model],
              shown, cancels=[hashing], trigger_mode="always_last", api_visibility="private")
    gr.on([image_a.input, image_b.input], None, cancels=pair_work)  # not the new image's own hash
    gr.on([gallery.dataset.click], None, cancels=[comparing, comparing_all, hashing_a, hashing_b])


def launch_kwargs() -> dict[str, Any]:
    return {"max_file_size": MAX_FILE_SIZE, "css": CSS, "theme": gr.themes.Soft(), "show_error": True}


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
    threading.Thread(target=tab.warm_up, daemon=True).start()
    create_app().launch(server_name=args.host, server_port=args.port, share=args.share,
                        **launch_kwargs())


if __name__ == "__main__":
    main()
