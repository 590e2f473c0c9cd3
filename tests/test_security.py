"""Nothing more than a hash: crafted requests cannot make the server read files, load code or listen widely."""
from pathlib import Path

import pytest

pytest.importorskip("gradio")
import httpx  # noqa: E402

import demo  # noqa: E402
from tests.app_server import running_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def call(client: httpx.Client, api: str, data: list) -> str:
    """Raw Gradio HTTP API: returns the server-sent events of one call as text."""
    r = client.post(f"gradio_api/call/{api}", json={"data": data})
    if r.status_code != 200:
        return f"http {r.status_code}: {r.text}"
    return client.get(f"gradio_api/call/{api}/{r.json()['event_id']}").text


def file_data(path: str = None, url: str = None) -> dict:
    return {"path": path, "url": url, "meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="module")
def http():
    with running_app() as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client


def test_listens_on_loopback_without_a_public_link_by_default(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = demo.parse_args([])
    assert args.host == "127.0.0.1" and args.share is False and args.port == 7860
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    assert demo.parse_args([]).host == "0.0.0.0"  # only when the operator says so


@pytest.mark.parametrize("payload", [
    file_data(path="/etc/passwd"),
    file_data(path=str(ROOT / "assets" / "examples" / "parrots.png")),
    file_data(path="../../../../etc/hostname"),
    file_data(url="file:///etc/passwd"),
    file_data(url="http://127.0.0.1:1/x.png"),
])
def test_a_server_path_or_link_in_place_of_an_upload_is_refused(http, payload):
    events = call(http, "hash", [payload, "phash", 16, "tf_efficientnet_lite0"])
    assert "event: error" in events and "event: complete" not in events
    assert "root:" not in events  # nothing of /etc/passwd comes back


def test_an_upload_named_with_dot_dot_stays_in_gradios_cache(http, tmp_path):
    target = Path("/tmp/idh_traversal_probe.png")
    target.unlink(missing_ok=True)
    with open(ROOT / "assets" / "examples" / "parrots.png", "rb") as fh:
        r = http.post("gradio_api/upload", files={"files": ("../../../../tmp/idh_traversal_probe.png", fh, "image/png")})
    stored = Path(r.json()[0])
    assert not target.exists() and ".." not in stored.parts
    events = call(http, "hash", [file_data(path=str(stored)), "phash", 16, "tf_efficientnet_lite0"])
    assert "event: complete" in events


@pytest.mark.parametrize("backend, model", [
    ("os", "tf_efficientnet_lite0"), ("../hashers/phash", "tf_efficientnet_lite0"),
    ("hashers.phash:PerceptualHash", "tf_efficientnet_lite0"),
    ("timm", "../../weights.pth"), ("timm", "hf-hub:attacker/model"), ("timm", "__import__('os')"),
])
def test_backend_and_model_names_are_only_chosen_from_lists(http, backend, model):
    with open(ROOT / "assets" / "examples" / "parrots.png", "rb") as fh:
        stored = http.post("gradio_api/upload", files={"files": ("p.png", fh, "image/png")}).json()[0]
    events = call(http, "hash", [file_data(path=stored), backend, 16, model])
    assert "event: error" in events and "event: complete" not in events


def test_no_ui_input_names_a_file_or_a_weights_path():
    app = demo.create_app()
    config = app.get_config_file()
    labels = " ".join(str(c.get("props", {}).get("label", "")) for c in config["components"]).lower()
    assert "weights" not in labels and "path" not in labels
    app.close()
