"""The app's deep compare: latency per request and the server's memory after warm-up, against a baseline.

    python benchmarks/app_latency.py --baseline /path/to/checkout-of-7b54a9b --out benchmarks/results/app

Starts each checkout's ``demo.py`` as a real server on a loopback port, warms it up with one deep compare,
then times ``--requests`` deep compares of the same pair one after another, two ways:

- **http**: what a browser or ``curl`` does, step by step: upload both files, submit ``/compare``, read
  its event stream to the result, fetch the three result pictures. The median of each step is reported.
- **gradio_client**: ``Client.predict`` (which uploads and downloads the same files, plus its own
  polling and threads: a fixed cost that is the same for both checkouts).

and reads the server's resident memory (VmRSS of the process and its children) afterwards.
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

import httpx

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


PAIR = ("parrots.png", "parrots_crop25.png")
STEPS = ("upload", "submit", "run", "download")


def start_server(checkout: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "demo.py", "--port", str(port)], cwd=checkout, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            if httpx.get(url + "/config", timeout=5).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.terminate()
            raise RuntimeError(f"{checkout}: the app did not start")
        time.sleep(1)


def http_compare(http: httpx.Client, url: str, inputs: int) -> dict[str, float]:
    """One deep compare as a browser makes it; seconds per step."""
    t0 = time.perf_counter()
    paths = []
    for name in PAIR:
        with open(ROOT / "assets" / "examples" / name, "rb") as fh:
            paths.append(http.post(url + "/gradio_api/upload", files={"files": fh}).json()[0])
    t1 = time.perf_counter()
    data = [{"path": p, "meta": {"_type": "gradio.FileData"}} for p in paths]
    data += ["timm", 16, "tf_efficientnet_lite0", False][:inputs - 2]
    event = http.post(url + "/gradio_api/call/compare", json={"data": data}).json()["event_id"]
    t2 = time.perf_counter()
    result = None
    with http.stream("GET", f"{url}/gradio_api/call/compare/{event}") as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                result = json.loads(line[5:]) if kind == "complete" else None
                break
    if result is None:
        raise RuntimeError("the compare failed")
    t3 = time.perf_counter()
    for out in result:
        if isinstance(out, dict) and out.get("url"):
            http.get(out["url"]).raise_for_status()
    t4 = time.perf_counter()
    return dict(zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)))


def compare_inputs(http: httpx.Client, url: str) -> int:
    """How many inputs this checkout's /compare takes (main's took 5; ``dihedral`` made it 6)."""
    info = http.get(url + "/gradio_api/info").json()
    return len(info["named_endpoints"]["/compare"]["parameters"])


def measure(checkout: Path, requests: int) -> dict:
    from gradio_client import Client, handle_file
    server, url = start_server(checkout)
    try:
        with httpx.Client(timeout=120) as http:
            inputs = compare_inputs(http, url)
            http_compare(http, url, inputs)  # warm-up
            steps = [http_compare(http, url, inputs) for _ in range(requests)]
        totals = [sum(s.values()) for s in steps]
        client = Client(url + "/", verbose=False)
        a, b = (handle_file(str(ROOT / "assets" / "examples" / name)) for name in PAIR)
        client.predict(a, b, "timm", 16, "tf_efficientnet_lite0", api_name="/compare")
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            client.predict(a, b, "timm", 16, "tf_efficientnet_lite0", api_name="/compare")
            times.append(time.perf_counter() - start)
        ms = lambda values: round(1000 * statistics.median(values), 1)
        return {"http": {"median_ms": ms(totals), "min_ms": round(1000 * min(totals), 1),
                         **{f"{step}_ms": ms([s[step] for s in steps]) for step in STEPS}},
                "gradio_client": {"median_ms": ms(times), "min_ms": round(1000 * min(times), 1)},
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
        for route in ("http", "gradio_client"):
            result[f"latency_ratio_{route}"] = round(
                result["this checkout"][route]["median_ms"] / result["baseline"][route]["median_ms"], 3)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "app_latency.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
