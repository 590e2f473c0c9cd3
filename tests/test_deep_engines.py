"""The deep hash's engines: ONNX Runtime on the CPU gives torch's bits, its export is cached atomically and
rebuilt when corrupt or stale, and with the export cached, hashing needs neither torch nor timm."""
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("timm")
pytest.importorskip("onnxruntime")

import registry  # noqa: E402
from hashers import deep, deep_onnx  # noqa: E402
from hashers.deep_preprocess import eval_transform  # noqa: E402
from tests.conftest import ROOT  # noqa: E402


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGE_DEEP_HASH_CACHE", str(tmp_path / "cache"))
    deep._networks.clear()
    yield tmp_path / "cache" / "onnx"
    deep._networks.clear()


def files(examples):
    return sorted(examples.glob("*.*g"))


def agreement(a, b) -> float:
    return 1 - np.mean([(x - y) / x.bit_count for x, y in zip(a, b)])


@pytest.mark.parametrize("projection", ["random", "learned-v1"])
def test_onnx_and_torch_give_the_same_bits(examples, projection):
    torch_hashes = registry.create("timm", hex_len=256, engine="torch", projection=projection).hash_many(files(examples))
    onnx_hasher = registry.create("timm", hex_len=256, engine="auto", projection=projection)
    assert onnx_hasher.engine == "onnx"
    assert agreement(torch_hashes, onnx_hasher.hash_many(files(examples))) >= 0.995


def test_the_preprocessing_without_torch_equals_timms(examples):
    hasher = registry.create("timm", engine="torch")
    ours = eval_transform(hasher.loaded.data_config)
    for path in files(examples):
        img = registry.load_image(path).convert("RGB")
        for im in (img, img.crop((0, 0, 200, 500)), img.resize((230, 224))):
            assert np.array_equal(ours(im), hasher.loaded.transform(im).numpy())


def test_the_export_is_built_once_and_reused(private_cache, examples):
    first = registry.create("timm", model="test_efficientnet", pretrained=False, engine="onnx")
    exported = sorted(private_cache.iterdir())
    assert [p.suffix for p in exported] == [".json", ".onnx"]
    stamp = exported[1].stat().st_mtime_ns
    deep._networks.clear()
    again = registry.create("timm", model="test_efficientnet", pretrained=False, engine="onnx")
    assert exported[1].stat().st_mtime_ns == stamp
    assert again.hash(examples / "parrots.png") == first.hash(examples / "parrots.png")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "stale key", "no description"])
def test_a_corrupt_or_stale_export_is_rebuilt(private_cache, examples, damage):
    reference = registry.create("timm", model="test_efficientnet", pretrained=False, engine="torch") \
        .hash(examples / "parrots.png")
    registry.create("timm", model="test_efficientnet", pretrained=False, engine="onnx")
    onnx_file = next(private_cache.glob("*.onnx"))
    meta_file = onnx_file.with_suffix(".json")
    if damage == "truncate":
        onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    elif damage == "garbage":
        onnx_file.write_bytes(b"\0" * 5000)
    elif damage == "stale key":
        meta = json.loads(meta_file.read_text())
        meta["key"]["format"] = -1
        meta_file.write_text(json.dumps(meta))
    else:
        meta_file.unlink()
    deep._networks.clear()
    hasher = registry.create("timm", model="test_efficientnet", pretrained=False, engine="onnx")
    assert hasher.hash(examples / "parrots.png") == reference
    key = {k: v for k, v in json.loads(meta_file.read_text())["key"].items() if k != "format"}
    assert deep_onnx.cached(key) is not None  # rebuilt whole, and described again
    assert not list(private_cache.glob("*.tmp"))  # nothing half-written left behind


def test_with_the_export_cached_hashing_imports_neither_torch_nor_timm(private_cache, examples):
    expected = str(registry.create("timm", hex_len=64, engine="onnx").hash(examples / "parrots.png"))
    code = ("import sys, registry; h = registry.create('timm', hex_len=64); "
            "print(h.hash(sys.argv[1]), 'torch' in sys.modules, 'timm' in sys.modules)")
    import os
    out = subprocess.run([sys.executable, "-c", code, str(examples / "parrots.png")], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "IMAGE_DEEP_HASH_CACHE": str(private_cache.parent)})
    assert out.stdout.split() == [expected, "False", "False"], out.stderr


def test_engine_onnx_without_onnxruntime_says_what_to_install(monkeypatch):
    monkeypatch.setattr(deep_onnx, "available", lambda: False)
    with pytest.raises(registry.MissingDependency, match="onnxruntime"):
        registry.create("timm", engine="onnx")
    assert registry.create("timm", engine="auto").engine == "torch"


def test_a_process_without_torch_exports_in_a_child_and_stays_without_it(tmp_path, examples):
    """The app's case: the first deep hash on a new machine must not leave torch's memory behind."""
    import os
    code = ("import sys, registry; h = registry.create('timm', hex_len=16); "
            "print(h.hash(sys.argv[1]), h.engine, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(examples / "parrots.png")], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "IMAGE_DEEP_HASH_CACHE": str(tmp_path)})
    expected = str(registry.create("timm", hex_len=16, engine="torch").hash(examples / "parrots.png"))
    assert out.stdout.split() == [expected, "onnx", "False"], out.stderr[-2000:]
    assert list((tmp_path / "onnx").glob("*.onnx"))


def test_bulk_hashing_one_image_per_core_gives_the_serial_records_in_order(examples, tmp_path, monkeypatch):
    from PIL import Image

    from hashers import deep_cpu
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    sources = [*files(examples), tmp_path / "missing.png", corrupt, (examples / "parrots.png").read_bytes(),
               Image.open(examples / "lighthouse.png"), *files(examples)[:2]]
    hasher = registry.create("timm", hex_len=64)
    assert hasher.engine == "onnx"
    monkeypatch.setattr(deep_cpu, "cores", lambda: 2)
    parallel = hasher.hash_many(sources, errors="return")
    records = list(hasher.iter_hashes(sources))
    monkeypatch.setattr(deep_cpu, "cores", lambda: 1)  # the one-at-a-time path
    serial = hasher.hash_many(sources, errors="return")
    assert [r.index for r in records] == list(range(len(sources)))
    assert [type(x) for x in parallel] == [type(x) for x in serial]
    for p, s in zip(parallel, serial):
        if isinstance(s, registry.ImageHash):
            assert p == s and p.colour == s.colour and p.detail == s.detail
        else:
            assert str(p) == str(s)


def test_a_worker_given_one_thread_hashes_one_image_at_a_time(examples, monkeypatch):
    from hashers import deep_cpu
    from registry import engines
    calls = []
    real = deep_cpu.stream
    monkeypatch.setattr(deep_cpu, "stream", lambda *a: calls.append(a[2]) or real(*a))
    hasher = registry.create("timm", hex_len=16)
    monkeypatch.setenv(engines.THREADS_ENV, "2")
    if deep_cpu.cores() < 2:
        pytest.skip("needs 2 cores")
    two = hasher.hash_many(files(examples))
    assert calls == [2]
    monkeypatch.setenv(engines.THREADS_ENV, "1")  # what a process-pool worker on 2 cores with 2 workers gets
    assert hasher.hash_many(files(examples)) == two and calls == [2]


def test_a_consumer_that_stops_early_leaves_no_work_queued(examples, monkeypatch):
    import time

    from hashers import deep_cpu
    monkeypatch.setattr(deep_cpu, "cores", lambda: 2)  # two at work, two more read ahead
    hasher = registry.create("timm", hex_len=16)
    loaded = []
    real = hasher._load_chunk

    def slow_after_the_first(start, chunk):
        loaded.append(start)
        if start:
            time.sleep(0.3)
        return real(start, chunk)
    monkeypatch.setattr(hasher, "_load_chunk", slow_after_the_first)
    stream = hasher.iter_hashes([examples / "parrots.png"] * 60)
    next(stream)
    stream.close()  # the images at work finish; the one queued behind them never starts
    assert 3 not in loaded and sorted(loaded)[:2] == [0, 1]  # (2 may or may not have started by then)
