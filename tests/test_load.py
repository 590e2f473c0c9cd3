"""Many users at once (short version of benchmarks/load_test.py): answers or clean refusals, never errors."""
import pytest

pytest.importorskip("gradio")

from benchmarks.load_test import run  # noqa: E402


def test_concurrent_compares_are_answered_correctly_or_refused_cleanly():
    r = run(requests=20, threads=10, seconds=240, queue_size=4, concurrency=2)
    assert r["errors"] == 0 and r["wrong"] == 0, r["error_samples"]
    assert r["ok"] + r["queue_full"] == r["requests"] == 20
    assert r["ok"] >= 4
    assert r["still_serving"]
    assert r["rss_mib"]["peak"] - r["rss_mib"]["after_warm_up"] < 400
