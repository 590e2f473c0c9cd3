"""All pairs within 8 bits among n 64-bit hashes: time and memory from 10k to 1M, per method.

    flock /tmp/bench.lock python benchmarks/index_scale.py     # 10k, 100k, 1M; writes benchmarks/results/
    python benchmarks/index_scale.py --quick                   # 10k and 30k, one repeat, a sanity run

The codes are random 64-bit hashes in which n/100 near copies are planted: a random code copied to
another random place with 0 to 8 of its bits flipped (uniformly), so every planted pair must be
found. Each (method, n) runs in a child process of its own, so its peak memory (ru_maxrss) is its
own; a child builds a fresh ``HashIndex`` for each repeat and times ``add`` and ``pairs(8)``; the
table gives medians over repeats, and each method's ratio to the method ``auto`` chose.

Recall is checked two ways: every planted pair is found, and among the first 100k codes (all of them
below 100k) the pairs found equal those of a brute force written here independently of the index
(XOR and popcount over every pair). Methods whose work grows as n^2 (``numpy-brute``,
``faiss-flat``) are not run past 100k; their 1M time is extrapolated (x 100) and marked so.
``search`` (8 queries, as for the 8 orientations of one image) is timed per engine too.

Writes ``index_scale.json`` and ``index_scale.md`` (the table and the 100M extrapolation) to --out.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
RADIUS = 8
BITS = 64
SAMPLE = 100_000
METHODS = ("auto", "numpy-mih", "faiss-multihash", "faiss-flat", "numpy-brute")
QUADRATIC = ("faiss-flat", "numpy-brute")


def make_codes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(packed codes (n, 8), planted pairs (p, 2) sorted within each row): n random 64-bit codes of
    which n/100 are near copies (0 to 8 bits flipped) of others, both at random places."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**63, size=n, dtype=np.int64).view(np.uint64) ^ (
        rng.integers(0, 2, size=n, dtype=np.uint64) << np.uint64(63))
    planted = max(1, n // 100)
    places = rng.permutation(n)[: 2 * planted]
    source, copy = places[:planted], places[planted:]
    flips = np.zeros(planted, dtype=np.uint64)
    for k, count in enumerate(rng.integers(0, RADIUS + 1, size=planted)):
        for b in rng.choice(BITS, count, replace=False):
            flips[k] |= np.uint64(1) << np.uint64(b)
    words[copy] = words[source] ^ flips
    codes = words.astype(">u8").view(np.uint8).reshape(n, 8)   # big-endian: bytes(ImageHash) order
    return codes, np.sort(np.stack([source, copy], axis=1), axis=1)


def brute_force(codes: np.ndarray, radius: int) -> set[tuple[int, int]]:
    """Every i < j within ``radius``, by XOR and popcount over every pair (independent of the index)."""
    words = codes.view(">u8").ravel().astype(np.uint64)
    found = set()
    block = 512
    for a in range(0, len(words), block):
        d = np.bitwise_count(words[a:a + block, None] ^ words[None, a:])
        i, j = np.nonzero(d <= radius)
        keep = j > i
        found.update(zip((i[keep] + a).tolist(), (j[keep] + a).tolist()))
    return found


def rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the process's own address space; on
    Linux, ru_maxrss also counts the parent's size at fork, which would blur the per-size figure."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, n: int, repeats: int, sample_file: str) -> dict:
    from registry.index import HashIndex, faiss_available
    codes, planted = make_codes(n)
    rss_data = rss_mb()
    add_s, pairs_s, search = [], [], {}
    ways = {"auto": "auto", "numpy": "numpy-brute"}
    if method == "auto" and faiss_available():
        ways["faiss"] = "faiss-flat"
    for _ in range(repeats):
        t0 = time.perf_counter()
        index = HashIndex(BITS, engine="numpy" if method.startswith("numpy") else "auto")
        index.add(codes)
        t1 = time.perf_counter()
        i, j, d = index.pairs(RADIUS, method=method)
        t2 = time.perf_counter()
        pairs_plan = str(index.last_plan)
        add_s.append(t1 - t0)
        pairs_s.append(t2 - t1)
        for name, way in (ways.items() if method == "auto" else []):   # 8 queries: one image's 8 orientations
            index.cross_pairs(codes[8:16], RADIUS, method=way)   # once first: faiss builds its flat index
            t3 = time.perf_counter()
            index.cross_pairs(codes[:8], RADIUS, method=way)
            search.setdefault(name, []).append(time.perf_counter() - t3)
            if name == "auto":
                search_plan = str(index.last_plan)
    found = set(zip(i.tolist(), j.tolist()))
    size = min(n, SAMPLE)
    in_sample = sorted((a, b) for a, b in found if b < size)
    np.save(sample_file, np.array(in_sample, dtype=np.int64).reshape(-1, 2))
    return {"method": method, "n": n, "plan": pairs_plan, "add_s": statistics.median(add_s),
            "pairs_s": statistics.median(pairs_s), "pairs_all_s": pairs_s,
            "search8_s": {k: statistics.median(v) for k, v in search.items()},
            "search_plan": search_plan if search else None,
            "pairs": len(found), "planted": len(planted),
            "planted_found": sum((int(a), int(b)) in found for a, b in planted),
            "all_within_radius": bool((d <= RADIUS).all()), "peak_rss_mb": rss_mb(), "data_rss_mb": rss_data}


def run(method: str, n: int, repeats: int, timeout: int, tmp: Path) -> dict:
    sample_file = tmp / f"{method}-{n}.npy"
    cmd = [sys.executable, __file__, "--child", method, str(n), str(repeats), str(sample_file)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "error": f"over {timeout} s"}
    if done.returncode:
        return {"method": method, "n": n, "error": " ".join(done.stderr.strip().splitlines()[-1:])}
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["sample_file"] = str(sample_file)
    return row


def fit(rows: list[dict], method: str) -> dict | None:
    """time ~ a * n + b * n^2 by least squares over the measured sizes (for the extrapolation)."""
    pts = [(r["n"], r["add_s"] + r["pairs_s"]) for r in rows
           if r.get("method") == method and "error" not in r and not r.get("extrapolated")]
    if len(pts) < 3:
        return None
    n = np.array([p[0] for p in pts], dtype=float)
    t = np.array([p[1] for p in pts])
    a, b = np.linalg.lstsq(np.stack([n, n * n], axis=1), t, rcond=None)[0]
    if a < 0 or b < 0:
        return None
    return {"a_per_code_s": float(a), "b_per_pair_s": float(b),
            "at_100M_s": float(a * 1e8 + b * 1e16)}


def markdown(rows: list[dict]) -> str:
    auto = {r["n"]: r["pairs_s"] for r in rows if r.get("method") == "auto" and "error" not in r}
    lines = ["| method | n | add (s) | pairs(8) (s) | x auto | search, 8 queries (ms): auto / numpy / faiss "
             "| pairs found | planted found | exact on first 100k | peak memory (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        ratio = f"{r['pairs_s'] / auto[r['n']]:.1f}" if r["n"] in auto and "pairs_s" in r else ""
        if "error" in r:
            lines.append(f"| {r['method']} | {r['n']:,} | | | | | | | | {r['error']} |")
        elif r.get("extrapolated"):
            lines.append(f"| {r['method']} | {r['n']:,} | | ~{r['pairs_s']:.0f} (n² from the largest run) "
                         f"| ~{ratio} | | | | | |")
        else:
            exact = {True: "yes", False: "**NO**"}.get(r.get("sample_exact"), "?")
            name = f"auto: {r['plan']}" if r["method"] == "auto" else r["plan"]
            search = " / ".join(f"{1000 * r['search8_s'][k]:.1f}" if k in r["search8_s"] else "-"
                                for k in ("auto", "numpy", "faiss")) if r["search8_s"] else ""
            lines.append(f"| {name} | {r['n']:,} | {r['add_s']:.3f} | {r['pairs_s']:.2f} | {ratio} | "
                         f"{search} | {r['pairs']:,} | {r['planted_found']:,} of "
                         f"{r['planted']:,} | {exact} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def extrapolation(rows: list[dict]) -> str:
    from registry.index import plan
    fits = {m: fit(rows, m) for m in ("auto", "faiss-multihash")}
    auto = {r["n"]: r for r in rows if r.get("method") == "auto" and "error" not in r}
    mem_text = ", ".join(f"{n:,}: {r['peak_rss_mb']:.0f} MB" for n, r in sorted(auto.items()))
    model_1m, model_100m = plan(BITS, RADIUS, 10**6).cost, plan(BITS, RADIUS, 10**8).cost
    measured_1m = auto[10**6]["pairs_s"] if 10**6 in auto else model_1m
    scaled = model_100m * measured_1m / model_1m
    fitted = " and ".join(f"{m} {f['at_100M_s'] / 3600:.1f} h" for m, f in fits.items() if f)
    shard_s = measured_1m * 0.78
    return f"""
### 100M hashes, on paper

- **Memory.** The codes are 8 bytes each: 800 MB for 100M. Multi-index hashing keeps, besides the
  codes, each chunk's keys (8 bytes a code, for the 3 chunks), and for the chunk at work its sort
  order and sorted codes (16): about 56 bytes a code, plus the bucket tables (9 bytes a bucket:
  38 MB at 22 bits, 150 MB at 24) and candidate blocks bounded by ``BLOCK`` (about 100 MB),
  whatever n. Measured peak (auto, interpreter included): {mem_text or "n/a"}. At 100M: about
  5.6 GB of codes and keys plus ~0.3 GB of tables and blocks, so an 8 GB machine (int32 keys and
  ids would bring it to ~3.5 GB). Not 2 GB: past ~25M hashes one machine needs more memory.
- **Time.** Each code's chunk values, with up to 2 bits flipped, are looked up: 3 x 232 lookups
  a code, linear in n. But the random candidates a lookup finds grow with the bucket fill
  n / 2^b, and chunks of a 64-bit code cannot grow past 21-22 bits at 3 chunks, so past ~2M hashes
  the work grows as n^2 / 2^21. The cost model (its constants fitted by ``--calibrate``, and
  {model_1m:.1f} s predicted for 1M against {measured_1m:.1f} s measured) gives
  {model_100m / 3600:.1f} h for 100M ({scaled / 3600:.1f} h scaled by the 1M measurement); a
  least-squares fit t = a n + b n^2 to the measured sizes gives {fitted or "n/a"}. Hours on 2 cores
  (numpy-mih uses one), where the n^2 term dominates: one machine is the wrong tool at that size.
- **Sharding by a chunk prefix.** Cut the 64 bits into r + 1 = 9 chunks of 7-8 bits. Two codes
  within 8 bits agree exactly on at least one chunk (pigeonhole), so send every code to 9 shards,
  keyed by (chunk c, the value of chunk c): 9 x 2^7 = 1,152 shards of about 780k codes each (each
  code 9 times: 7.2 GB of codes in the cluster, not 800 MB). Each shard runs ``pairs(8)`` on its
  codes alone (~{shard_s:.0f} s each, from the 1M measurement), and keeps a pair only if c is the
  *first* chunk on which the two codes agree, so no pair is reported twice. 1,152 shards x
  ~{shard_s:.0f} s is about {1152 * shard_s / 3600:.1f} CPU-hours: minutes on 20 machines of 2 cores,
  with no communication between shards beyond the one shuffle. Sending a code to its
  (chunk, value with one bit flipped) shards as well allows fewer, wider chunks: less replication
  of the pairs work, more of the codes.
"""


def calibrate(max_seconds: float = 3.0) -> dict:
    """Fit ``registry.index.COST`` (seconds per unit of work) by non-negative least squares over
    timed joins of random codes: each method's time against the work terms its cost model counts."""
    from scipy.optimize import nnls
    from registry import index as ix
    rng = np.random.default_rng(1)
    runs: dict[str, list] = {"numpy-mih": [], "numpy-brute": [], "faiss-flat": [], "faiss-multihash": []}
    configs = [(64, 8), (64, 4), (64, 12), (36, 5), (128, 16), (256, 40), (16, 2)]
    for bits, radius in configs:
        nbytes = -(-bits // 8)
        pad, words = nbytes * 8 - bits, -(-nbytes // 8)
        for n in (3_000, 10_000, 30_000, 100_000, 300_000):
            packed = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
            packed[:, 0] &= 0xFF >> pad
            index = ix.HashIndex(bits)
            index.add(packed)
            codes = index._codes
            pairs = n * (n - 1) / 2
            for m in range(1, min(bits, radius + 1) + 1):
                chunks = ix.mih_chunks(bits, pad, radius, m)
                if ix._mih_cost(chunks, n, n, words, True) > max_seconds or \
                        any(ix._ball(w, t) > ix.MAX_PROBES for _, w, t in chunks):
                    continue
                t = time.perf_counter()
                ix._mih_join(codes, codes.view(np.uint8), chunks, radius)
                elapsed = time.perf_counter() - t
                terms = [sum(n * math.log2(n) for _ in chunks), sum(2 ** w for _, w, _ in chunks),
                         sum(ix._ball(w, t) for _, w, t in chunks),
                         sum(n * (ix._ball(w, t) + 1) / 2 for _, w, t in chunks),
                         sum((1 + 0.2 * (words - 1)) * pairs * ix._ball(w, t) / 2 ** w for _, w, t in chunks)]
                runs["numpy-mih"].append((terms, elapsed))
            for method in ("numpy-brute", "faiss-flat"):
                if method == "faiss-flat" and not ix.faiss_available():
                    continue
                guess = pairs * words * ix.COST["brute_word"] if method == "numpy-brute" else pairs * 1e-9
                if guess > max_seconds:
                    continue
                t = time.perf_counter()
                index.pairs(radius, method=method)
                elapsed = time.perf_counter() - t
                calls = -(-n // ix.FAISS_QUERIES)
                terms = [pairs * words] if method == "numpy-brute" else [calls, pairs, pairs * (words - 1)]
                runs[method].append((terms, elapsed))
            if ix.faiss_available():
                for m in range(1, min(nbytes * 8, 64) + 1):
                    w, t = min(nbytes * 8 // m, ix.MAX_CHUNK_BITS), radius // m
                    v = ix._ball(w, t)
                    probes, cands = n * m * v, 2 * pairs * m * v / 2 ** w
                    if v > ix.MAX_PROBES or probes * 1e-7 + cands * 5e-8 > max_seconds:
                        continue
                    chosen = ix.Plan("faiss-multihash", tuple((k * w, w, t) for k in range(m)))
                    t0 = time.perf_counter()
                    index._join(chosen, radius)
                    runs["faiss-multihash"].append(([n * m, probes, cands], time.perf_counter() - t0))
    names = {"numpy-mih": ["sort", "bucket", "mask", "probe", "candidate"], "numpy-brute": ["brute_word"],
             "faiss-flat": ["flat_call", "flat_pair", "flat_word"],
             "faiss-multihash": ["mh_add", "mh_probe", "mh_candidate"]}
    fitted = {}
    for method, data in runs.items():
        if not data:
            continue
        a = np.array([terms for terms, _ in data], dtype=float)
        t = np.array([elapsed for _, elapsed in data])
        scale = 1 / np.maximum(t, 1e-3)          # relative error: small and large runs count alike
        coef, _ = nnls(a * scale[:, None], t * scale)
        fitted.update({name: float(c) for name, c in zip(names[method], coef)})
        fitted_text = ", ".join(f"{k}={v:.3g}" for k, v in zip(names[method], coef))
        print(f"{method}: {len(data)} runs, {fitted_text}")
    return fitted


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k and 30k, one repeat, results not written")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="repeats per (method, n) up to 100k")
    ap.add_argument("--repeats-large", type=int, default=2, help="repeats per method past 100k")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--out", type=Path, default=None, help="folder for index_scale.json/.md "
                    "(default benchmarks/results; --quick writes nothing unless given)")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit the cost constants of registry.index.COST instead, and print them")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.calibrate:
        return calibrate(0.3 if args.quick else 2.0)
    if args.child:
        method, n, repeats, sample_file = args.child
        print(json.dumps(child(method, int(n), int(repeats), sample_file)))
        return {}
    from registry.index import faiss_available
    if args.quick:
        args.sizes, args.repeats, args.repeats_large = [10_000, 30_000], 1, 1
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    methods = [m for m in args.methods if faiss_available() or not m.startswith("faiss")]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            reference = None
            for method in methods:
                if method in QUADRATIC and n > SAMPLE:
                    small = [r for r in rows
                             if r.get("method") == method and r["n"] <= SAMPLE and "error" not in r]
                    if small:
                        base = max(small, key=lambda r: r["n"])
                        rows.append({"method": method, "n": n, "extrapolated": True,
                                     "pairs_s": base["pairs_s"] * (n / base["n"]) ** 2})
                    continue
                repeats = args.repeats if n <= SAMPLE else args.repeats_large
                if method == "faiss-multihash" and n > SAMPLE:
                    repeats = 1   # minutes a run at 1M
                row = run(method, n, repeats, args.timeout, Path(tmp))
                if "error" not in row:
                    if reference is None:
                        codes, _ = make_codes(n)
                        reference = brute_force(codes[: min(n, SAMPLE)], RADIUS)
                    mine = {tuple(p) for p in np.load(row.pop("sample_file")).tolist()}
                    row["sample_pairs"] = len(reference)
                    row["sample_exact"] = mine == reference
                    row["sample_recall"] = len(mine & reference) / max(len(reference), 1)
                rows.append(row)
                print(markdown([row]).splitlines()[-1], flush=True)
    table = markdown(rows)
    result = {"bits": BITS, "radius": RADIUS, "sample": SAMPLE, "cpus": os.cpu_count(),
              "numpy": np.__version__, "faiss": faiss_available(), "runs": rows,
              "fits": {m: fit(rows, m) for m in methods}}
    text = (f"All pairs within {RADIUS} bits among n random {BITS}-bit hashes with n/100 planted near copies "
            f"(`python benchmarks/index_scale.py`, {os.cpu_count()} CPUs, numpy {np.__version__}); "
            f"medians of {args.repeats} runs up to 100k, {args.repeats_large} past it.\n\n"
            f"{table}{extrapolation(rows)}")
    print("\n" + text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "index_scale.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / "index_scale.md").write_text(text)
    return result


if __name__ == "__main__":
    main()
