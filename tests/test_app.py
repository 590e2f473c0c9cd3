"""The web app's API, driven with gradio_client against a real server on 127.0.0.1, and its handlers
(compare_tab.py) called directly."""
import re
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

import compare_tab as tab  # noqa: E402
import registry  # noqa: E402
from tests.app_server import running_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield Client(url, verbose=False)


def test_the_api_has_stable_endpoint_names(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/hash", "/compare", "/compare_all"} <= set(endpoints)
    params = [p["parameter_name"] for p in endpoints["/compare"]["parameters"]]
    assert params[:4] == ["image_a", "image_b", "backend", "hex_len"]


@pytest.mark.parametrize("backend, hex_len", [("phash", 16), ("dhash", 9), ("ahash", 7), ("timm", 16)])
def test_hash_equals_the_library_on_the_same_file(client, examples, backend, hex_len):
    path = examples / "parrots_q40.jpg"
    got = client.predict(handle_file(str(path)), backend, hex_len, api_name="/hash")
    assert got == str(registry.create(backend, hex_len=hex_len).hash(path))


def test_compare_returns_hashes_distance_similarity_and_verdict(client, examples):
    a, b = examples / "parrots.png", examples / "parrots_crop25.png"
    out = client.predict(handle_file(str(a)), handle_file(str(b)), "timm", 16, api_name="/compare")
    summary = out[3]
    expected = registry.compare(a, b, backend="timm", hex_len=16)
    assert summary["hash_a"] == str(expected.hash_a) and summary["hash_b"] == str(expected.hash_b)
    assert summary["distance"] == expected.distance and summary["bits"] == 64
    assert summary["similarity"] == pytest.approx(expected.similarity)
    assert summary["verdict"] == expected.verdict and summary["fetch_again"] == expected.fetch_again
    assert summary["cosine"] == pytest.approx(expected.cosine, abs=1e-6)
    assert f"<b id='distance'>{expected.distance}</b>" in out[2]


def test_compare_all_covers_every_loadable_backend(client, examples):
    out = client.predict(handle_file(str(examples / "parrots.png")),
                         handle_file(str(examples / "lighthouse.png")), 16, api_name="/compare_all")
    rows = {r[0]: r for r in out["data"]}
    assert {"ahash", "phash", "dhash", "timm"} <= set(rows)
    assert all(rows[n][6] == "different" for n in ("phash", "timm"))


@pytest.mark.parametrize("args, message", [
    (lambda ex: (handle_file(str(ROOT / "README.md")), "phash", 16), "The image is unreadable.*README.md.*not an image"),
    (lambda ex: (None, "phash", 16), "Please add the image"),
    (lambda ex: (handle_file(str(ex / "parrots.png")), "phash", 0), "hex lengths 1-256|less than minimum value 1"),
    (lambda ex: (handle_file(str(ex / "parrots.png")), "not-a-backend", 16), "not-a-backend"),
])
def test_user_errors_come_back_readable_and_the_server_keeps_serving(client, examples, args, message):
    with pytest.raises(Exception, match=message) as info:
        client.predict(*args(examples), api_name="/hash")
    assert "/tmp/" not in str(info.value)
    assert len(client.predict(handle_file(str(examples / "parrots.png")), "ahash", 4, api_name="/hash")) == 4


@pytest.mark.parametrize("model", ["../../etc/passwd", "/root/model.pth", "os.system"])
def test_model_names_must_come_from_timms_list(client, examples, model):
    with pytest.raises(Exception, match="unknown timm model|not in the list of choices"):
        client.predict(handle_file(str(examples / "parrots.png")), "timm", 16, model, api_name="/hash")


def test_uploads_over_the_size_limit_are_refused(examples):
    with running_app(max_file_size="10kb") as url:
        small = Client(url, verbose=False)
        with pytest.raises(Exception, match=re.compile("size|large|exceed|413", re.I)):
            small.predict(handle_file(str(examples / "parrots.png")), "phash", 16, api_name="/hash")
        assert len(small.predict(handle_file(str(examples / "parrots_q40.jpg")), "phash", 16,
                                 api_name="/hash")) == 16


def test_spaces_front_matter_matches_the_pinned_gradio():
    front = (ROOT / "README.md").read_text().split("---")[1]
    fields = dict(line.split(":", 1) for line in front.strip().splitlines())
    pinned = re.search(r"^gradio==([\w.]+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert fields["sdk"].strip() == "gradio"
    assert fields["sdk_version"].strip() == pinned == gr.__version__
    assert fields["app_file"].strip() == "demo.py"
    assert re.fullmatch(r'"3\.\d+"', fields["python_version"].strip())


# --- the handlers, called directly (no server, no browser) ---------------------------------------


def test_the_backend_menu_has_short_labels_and_only_backends_that_run_here():
    choices = dict((value, text) for text, value in tab.backend_choices())
    short = {"phash": "pHash", "dhash": "dHash", "ahash": "aHash", "timm": "deep (timm)"}
    assert short.items() <= choices.items()
    assert all(len(text) <= 20 for text in choices.values())
    assert set(choices) == {i.name for i in registry.available() if i.error is None}


def test_an_unusable_backend_is_listed_with_its_message_not_offered(monkeypatch):
    from registry.discovery import HasherInfo
    broken = HasherInfo("gpuhash", "gpuhash==1.0", "gpuhash:GpuHash",
                        error="the gpuhash backend needs cupy, which is not installed: pip install cupy")
    monkeypatch.setattr(registry, "available", lambda real=registry.available: real() + [broken])
    assert "gpuhash" not in [value for _, value in tab.backend_choices()]
    text = tab.unusable_markdown()
    assert "gpuhash" in text and "pip install cupy" in text
    with pytest.raises(gr.Error, match="Unknown backend"):
        tab.hash_image(str(ROOT / "assets" / "examples" / "parrots.png"), "gpuhash", 16)


def test_the_model_menu_offers_what_the_backend_declares_and_nothing_else():
    for info in registry.available():
        if info.error is not None:
            continue
        declared = info.cls.option_choices().get("model", [])
        update = tab.menu_update(info.name)
        assert update["visible"] is bool(declared)
        if declared:
            assert update["choices"] == declared and update["value"] == declared[0][1]
    timm_models = [value for _, value in tab.menu_choices("timm")]
    assert timm_models[0] == "tf_efficientnet_lite0"
    slider, backend, menu = tab.on_backend_change("timm", 16, None)
    assert backend["info"] == tab.summary("timm") and menu["visible"] is True
    assert "value" not in slider  # 16 digits suit every built-in: the slider stays put


def test_compare_images_returns_the_seven_outputs(examples):
    a, b = str(examples / "parrots.png"), str(examples / "parrots_q40.jpg")
    hash_a, hash_b, html, summary, grids, blend, difference = tab.compare_images(a, b, "phash", 16)
    expected = registry.compare(a, b, backend="phash", hex_len=16)
    assert (hash_a, hash_b) == (str(expected.hash_a), str(expected.hash_b))
    assert f"data-verdict='{expected.verdict}'" in html and expected.verdict_text in html
    assert summary["distance"] == expected.distance and "warning" not in summary
    from PIL import Image
    grids, blend, difference = (Image.open(path) for path in (grids, blend, difference))  # files of their own
    assert grids.size[0] > grids.size[1] > 0 and blend.size == difference.size


def test_a_very_short_hash_warns_instead_of_a_confident_verdict(examples):
    a, b = str(examples / "parrots.png"), str(examples / "parrots_crop25.png")
    out = tab.compare_images(a, b, "phash", 1)
    html, summary = out[2], out[3]
    assert summary["bits"] == 4 and "unrelated images often share a hash" in summary["warning"]
    assert "unrelated images often share a hash" in html and "id='few_bits'" in html
    assert summary["verdict_text"] not in html
    assert "few_bits" not in tab.compare_images(a, b, "phash", 4)[2]  # 16 bits: no warning


def test_the_validator_names_the_missing_input(examples):
    a = str(examples / "parrots.png")
    checks = tab.check_pair(None, a, "phash", 16, None)
    assert [c["is_valid"] for c in checks] == [False, True, True, True, True, True]  # A, B, backend, length, model, dihedral
    assert checks[0]["message"] == "Please add image A first."
    assert all(c["is_valid"] for c in tab.check_pair(a, a, "timm", 16, "tf_efficientnet_lite0"))
    assert not tab.check_pair(a, a, "timm", 16, "resnet50-from-a-stranger")[4]["is_valid"]
    assert [c["is_valid"] for c in tab.check_images(a, None, 16)] == [True, False, True]


def test_user_errors_are_one_gr_error_and_one_log_line(examples, caplog):
    with caplog.at_level("WARNING", logger="image_deep_hash.app"):
        with pytest.raises(gr.Error, match="Please add image A first") as info:
            tab.compare_images(None, str(examples / "parrots.png"), "phash", 16)
    assert info.value.print_exception is False  # Gradio prints no traceback for it
    assert [r.getMessage() for r in caplog.records] == [
        "image-deep-hash: compare_images refused: Please add image A first."]
    with pytest.raises(gr.Error, match="unknown timm model"):
        tab.hash_image(str(examples / "parrots.png"), "timm", 16, "../../weights.pth")
    with pytest.raises(gr.Error, match="README.md.*not an image"):
        tab.hash_image(str(ROOT / "README.md"), "phash", 16)


def test_the_server_log_has_one_line_per_user_error_and_no_traceback(examples, tmp_path):
    from tests.app_server import app_process
    log = tmp_path / "server.log"
    with app_process(log) as url:
        client = Client(url, verbose=False)
        with pytest.raises(Exception, match="Please add image A first"):
            client.predict(None, handle_file(str(examples / "parrots.png")), "phash", 16, api_name="/compare")
        with pytest.raises(Exception, match="Please add the image first"):
            client.predict(None, "phash", 16, api_name="/hash")
        with pytest.raises(Exception, match="not an image"):
            client.predict(handle_file(str(ROOT / "README.md")), "phash", 16, api_name="/hash")
    text = log.read_text()
    assert "Traceback" not in text, text
    refusals = [line for line in text.splitlines() if "refused" in line]
    assert len(refusals) == 3, text
    assert "compare refused: Please add image A first." in refusals[0]


def test_compare_all_flags_verdicts_from_too_few_bits(examples):
    a, b = str(examples / "parrots.png"), str(examples / "lighthouse.png")
    rows = {r[0]: r for r in tab.compare_all(a, b, 2)}
    assert rows["phash"][4] == 8 and rows["phash"][6].endswith("(too few bits to tell)")
