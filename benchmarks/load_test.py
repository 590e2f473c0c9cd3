"""Many users at once: concurrent /compare requests against the app on 127.0.0.1, bounded in count and time.

    python benchmarks/load_test.py --requests 200 --threads 24 --out benchmarks/results/load

Starts `python demo.py` in a child process on a free loopback port (with a small queue, so that the
queue-full path is exercised), then sends requests from several threads, each with its own
gradio_client, cycling through backends and the example pairs. Every request must get either its
answer, equal to the library's on the same files, or a clean "queue full" refusal. The server's
resident memory is sampled throughout, and it must still answer afterwards. Sends traffic to
127.0.0.1 only, and stops by itself after --requests requests or --seconds seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EX = ROOT / "assets" / "examples"
PAIRS = [("parrots.png", "parrots_q40.jpg"), ("parrots.png", "parrots_crop25.png"),
         ("parrots.png", "parrots_mirror.png"), ("parrots.png", "lighthouse.png")]
BACKENDS = ["phash", "dhash", "ahash", "timm"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def expected_answers() -> dict:
    import registry
    out = {}
    for backend in BACKENDS:
        for a, b in PAIRS:
            r = registry.compare(EX / a, EX / b, backend=backend, hex_len=16)
            out[(backend, a, b)] = (str(r.hash_a), str(r.hash_b), r.distance, r.verdict)
    return out


def start_server(queue_size: int, concurrency: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "IMAGE_DEEP_HASH_QUEUE_SIZE": str(queue_size),
           "IMAGE_DEEP_HASH_CONCURRENCY": str(concurrency), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "demo.py"), "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    import httpx
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the app exited during start-up")
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not start within 120 s")


def run(requests: int = 60, threads: int = 12, seconds: float = 300, queue_size: int = 8,
        concurrency: int = 2) -> dict:
    from gradio_client import Client, handle_file
    expected = expected_answers()
    proc, url = start_server(queue_size, concurrency)
    lock = threading.Lock()
    outcomes: list[dict] = []
    memory: list[float] = []
    counter = iter(range(requests))
    stop_at = time.time() + seconds
    stop = threading.Event()

    def sample_memory():
        while not stop.is_set():
            memory.append(rss_mib(proc.pid))
            time.sleep(0.25)

    def worker():
        client = Client(url, verbose=False)
        while time.time() < stop_at:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            backend = BACKENDS[k % len(BACKENDS)]
            a, b = PAIRS[(k // len(BACKENDS)) % len(PAIRS)]
            start = time.perf_counter()
            try:
                out = client.predict(handle_file(str(EX / a)), handle_file(str(EX / b)), backend, 16,
                                     api_name="/compare")
                s = out[3]
                got = (s["hash_a"], s["hash_b"], s["distance"], s["verdict"])
                kind = "ok" if got == expected[(backend, a, b)] else "wrong"
                detail = "" if kind == "ok" else f"{got} != {expected[(backend, a, b)]}"
            except Exception as exc:  # the client raises on refusals and errors
                text = str(exc)
                kind = "queue_full" if "queue" in text.lower() and "full" in text.lower() else "error"
                detail = f"{type(exc).__name__}: {text[:200]}"
            with lock:
                outcomes.append({"kind": kind, "backend": backend, "seconds": time.perf_counter() - start,
                                 "detail": detail})

    try:
        warm = Client(url, verbose=False)  # load the deep model before measuring
        warm.predict(handle_file(str(EX / "parrots.png")), handle_file(str(EX / "lighthouse.png")), "timm", 16,
                     api_name="/compare")
        baseline = rss_mib(proc.pid)
        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        begin = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        wall = time.perf_counter() - begin
        stop.set()
        after = warm.predict(handle_file(str(EX / "parrots.png")), "phash", 16, api_name="/hash")
        still_serving = after == expected[("phash", "parrots.png", "parrots_q40.jpg")][0]
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    ok = [o for o in outcomes if o["kind"] == "ok"]
    lat = sorted(o["seconds"] for o in ok)
    per_backend = {b: round(statistics.median([o["seconds"] for o in ok if o["backend"] == b]), 3)
                   for b in BACKENDS if any(o["backend"] == b for o in ok)}
    return {
        "requests": len(outcomes), "threads": threads, "queue_size": queue_size, "concurrency": concurrency,
        "ok": len(ok), "queue_full": sum(o["kind"] == "queue_full" for o in outcomes),
        "wrong": sum(o["kind"] == "wrong" for o in outcomes), "errors": sum(o["kind"] == "error" for o in outcomes),
        "error_samples": [o["detail"] for o in outcomes if o["kind"] in ("wrong", "error")][:5],
        "wall_s": round(wall, 2), "answered_per_s": round(len(ok) / wall, 2),
        "p50_s": round(lat[len(lat) // 2], 3) if lat else None,
        "p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3) if lat else None,
        "median_s_by_backend": per_backend,
        "rss_mib": {"after_warm_up": round(baseline, 1), "peak": round(max(memory, default=baseline), 1),
                    "last": round(memory[-1] if memory else baseline, 1)},
        "still_serving": still_serving,
    }


def markdown(r: dict) -> str:
    return (f"| requests | threads | queue size / workers | answered | queue full | wrong | errors | answered/s | "
            f"p50 | p95 | server RSS after warm-up → peak |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
            f"| {r['requests']} | {r['threads']} | {r['queue_size']} / {r['concurrency']} | {r['ok']} | "
            f"{r['queue_full']} | {r['wrong']} | {r['errors']} | {r['answered_per_s']} | {r['p50_s']} s | "
            f"{r['p95_s']} s | {r['rss_mib']['after_warm_up']} → {r['rss_mib']['peak']} MiB |\n\n"
            f"Median latency by backend: " + ", ".join(f"{b} {s} s" for b, s in r["median_s_by_backend"].items())
            + f". Still serving afterwards: {'yes' if r['still_serving'] else 'NO'}.\n")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--threads", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--queue-size", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    result = run(args.requests, args.threads, args.seconds, args.queue_size, args.concurrency)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "load.json").write_text(json.dumps(result, indent=1))
        (out / "load.md").write_text(markdown(result))
    print(json.dumps(result, indent=1))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
