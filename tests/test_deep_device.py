"""The deep hash's device input path: JPEGs decoded and transformed where the network runs.

On a GPU it is on by itself; here it runs on the CPU (torchvision's decoder, the same torch code) and is
checked against the Pillow path: close bits, the same detail and colours, the same records in the same
order, and everything it does not take (PNGs, EXIF-rotated, CMYK, truncated, PIL images) answered by the
CPU path exactly.
"""
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("timm")
torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

import registry  # noqa: E402
from hashers import deep_device  # noqa: E402
from registry.colour import colour_change, fine_change  # noqa: E402
from registry.comparison import colour_limits  # noqa: E402

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def jpegs(examples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("jpegs")
    out = []
    for source in sorted(examples.glob("*.*g")):  # each example, and its upside-down copy
        picture = Image.open(source).convert("RGB")
        for name, version in ((source.stem, picture), (f"{source.stem}_flipped", picture.rotate(180))):
            out.append(folder / f"{name}.jpg")
            version.save(out[-1], quality=90)
    return out


def device_hasher(**options):
    hasher = registry.create("timm", hex_len=256, engine="torch", **options)
    assert deep_device.available()
    hasher.decode_on_device = True
    return hasher


def agreement(a, b) -> float:
    return float(np.mean([(x.bits == y.bits).mean() for x, y in zip(a, b)]))


def test_the_device_path_agrees_with_the_pillow_path(jpegs):
    pillow = registry.create("timm", hex_len=256, engine="torch").hash_many(jpegs)
    device = device_hasher().hash_many(jpegs)
    assert agreement(pillow, device) >= 0.98
    assert all(d.identity == p.identity for d, p in zip(device, pillow))  # the same hash, comparable
    for p, d in zip(pillow, device):
        assert d.detail == pytest.approx(p.detail, rel=0.1)
        assert colour_change(p.colour, d.colour, colour_limits()) == []
        assert fine_change(p.colour, d.colour) <= 1.0  # the lightness layouts: the same box weights


def test_it_takes_only_what_it_decodes_as_the_cpu_does(jpegs, tmp_path):
    good = jpegs[0].read_bytes()
    assert deep_device.eligible(jpegs[0]) is not None and deep_device.eligible(good) is not None
    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(jpegs[0]).save(rotated, "JPEG", exif=exif)
    cmyk = io.BytesIO()
    Image.open(jpegs[0]).convert("CMYK").save(cmyk, "JPEG")
    png = io.BytesIO()
    Image.open(jpegs[0]).save(png, "PNG")
    for refused in (rotated.getvalue(), cmyk.getvalue(), png.getvalue(), good[: len(good) // 2],
                    Image.open(jpegs[0]), tmp_path / "missing.jpg"):
        assert deep_device.eligible(refused) is None


def test_mixed_sources_give_the_cpu_paths_records_in_order(jpegs, tmp_path):
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(jpegs[1]).save(rotated, "JPEG", exif=exif)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpegs[2].read_bytes()[:3000])
    garbage = bytearray(jpegs[3].read_bytes())
    garbage[600:4000] = b"\xff" * 3400  # a valid start and end around data no decoder accepts
    sources = [jpegs[0], rotated, truncated, bytes(garbage), jpegs[4].read_bytes(),
               Image.open(jpegs[5]), tmp_path / "missing.jpg", jpegs[6]]
    cpu = registry.create("timm", hex_len=256, engine="torch").hash_many(sources, errors="return", batch_size=3)
    device = device_hasher().hash_many(sources, errors="return", batch_size=3)
    assert [type(r).__name__ for r in device] == [type(r).__name__ for r in cpu]
    assert isinstance(device[2], registry.ImageError) and isinstance(device[6], registry.ImageError)
    for k in (1, 5):  # taken by the CPU path: exactly its bits
        assert device[k] == cpu[k] and device[k].colour == cpu[k].colour
    for k in (0, 4, 7):
        assert agreement([cpu[k]], [device[k]]) >= 0.97


def test_hash_stream_order_and_indices_survive_small_batches(jpegs):
    hasher = device_hasher(views=1)
    records = list(hasher.iter_hashes(list(jpegs) + list(jpegs[:3]), batch_size=4))
    assert [r.index for r in records] == list(range(len(jpegs) + 3))
    assert [r.hash for r in records[len(jpegs):]] == [r.hash for r in records[:3]]


def test_a_failure_on_the_device_sends_the_batch_the_cpu_way(jpegs, monkeypatch):
    def out_of_memory(self, img):
        raise RuntimeError("CUDA out of memory (simulated)")
    cpu = registry.create("timm", hex_len=256, engine="torch").hash_many(jpegs[:4])
    hasher = device_hasher()
    monkeypatch.setattr(deep_device.DeviceInputs, "transform", out_of_memory)
    assert hasher.hash_many(jpegs[:4], errors="return") == cpu  # exactly the CPU path's hashes


def test_models_whose_transform_the_device_path_does_not_do_stay_on_the_cpu():
    base = {"input_size": (3, 224, 224), "crop_pct": 0.875, "interpolation": "bicubic",
            "mean": (0.5,) * 3, "std": (0.5,) * 3}
    assert deep_device.supports(base)
    for change in ({"interpolation": "lanczos"}, {"crop_mode": "squash"}, {"input_size": (3, 224, 256)},
                   {"crop_pct": 1.2}):
        assert not deep_device.supports({**base, **change}), change


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_on_a_gpu_jpegs_decode_there_and_agree_with_the_cpu(jpegs):
    gpu = registry.create("timm", hex_len=256, device="cuda")
    assert gpu.decode_on_device
    cpu = registry.create("timm", hex_len=256, device="cpu")
    assert agreement(cpu.hash_many(jpegs), gpu.hash_many(jpegs)) >= 0.98
