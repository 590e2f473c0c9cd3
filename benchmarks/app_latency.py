"""The app's deep compare: latency per request and the server's memory after warm-up, against a baseline.

    python benchmarks/app_latency.py --baseline /path/to/checkout-of-7b54a9b --out benchmarks/results/app

Starts each checkout's ``demo.py`` as a real server on a loopback port, warms it up with one deep compare,
then times ``--requests`` deep compares of the same pair through ``gradio_client`` one after another
(median), and reads the server's resident memory (VmRSS of the process) afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (an export child, say), in MB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def measure(checkout: Path, requests: int) -> dict:
    from gradio_client import Client, handle_file
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "demo.py", "--port", str(port)], cwd=checkout, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 180
        while True:
            try:
                client = Client(url, verbose=False)
                break
            except Exception:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{checkout}: the app did not start")
                time.sleep(1)
        a = handle_file(str(ROOT / "assets" / "examples" / "parrots.png"))
        b = handle_file(str(ROOT / "assets" / "examples" / "parrots_crop25.png"))
        client.predict(a, b, "timm", 16, "tf_efficientnet_lite0", api_name="/compare")  # warm-up
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            client.predict(a, b, "timm", 16, "tf_efficientnet_lite0", api_name="/compare")
            times.append(time.perf_counter() - start)
        return {"median_ms": round(1000 * statistics.median(times)), "min_ms": round(1000 * min(times)),
                "rss_after_warmup_mb": round(rss_mb(server.pid))}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, default=None)
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "app")
    args = ap.parse_args(argv)
    result = {"this checkout": measure(ROOT, args.requests)}
    if args.baseline:
        result["baseline"] = measure(args.baseline, args.requests)
        result["latency_ratio"] = round(result["this checkout"]["median_ms"] / result["baseline"]["median_ms"], 3)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "app_latency.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
