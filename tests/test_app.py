"""The web app's API, driven with gradio_client against a real server on 127.0.0.1."""
import re
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

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
    assert summary["verdict"] == expected.verdict == "similar"
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
