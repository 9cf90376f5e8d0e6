"""Index scale benchmark: 1M synthetic 128-d vectors (the SIFT descriptor size) in the HNSW index
the safety signals use past 200k rows, against exact search as the baseline; and 1M PDQ hashes
in the binary index.

Reports single-query p50/p99 latency, recall@10 against exact search, and memory per million
entries. Run: `.venv/bin/python -m bench.ip_index [--n 1000000] [--queries 500]`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from perception.vectors import BinaryIndex, VectorIndex, use_threads


def clustered(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Descriptor-like data: points around 4096 centres, so neighbours are not trivially far."""
    which = rng.integers(0, len(centres), n)
    out = centres[which] + rng.normal(0, 0.35, (n, dim)).astype(np.float32)
    return out.astype(np.float32)


def latencies(fn: Callable[[np.ndarray], object], queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall and this thread's CPU milliseconds per single query. On a shared machine the wall
    p99 is mostly time spent waiting for a core; the CPU figure is what the query costs."""
    wall, cpu = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.thread_time()
        fn(q.reshape(1, -1))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return np.array(wall) * 1000, np.array(cpu) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--kinds", default="ivf", help="approximate indexes to measure")
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads per search")
    args = parser.parse_args()
    use_threads(args.threads)
    rng = np.random.default_rng(7)
    dim = 128
    centres = rng.normal(0, 1, (4096, dim)).astype(np.float32)
    data = clustered(args.n, dim, rng, centres)
    queries = clustered(args.queries, dim, rng, centres)

    exact = VectorIndex(dim, metric="l2", kind="flat")
    exact.add(data)
    t0 = time.perf_counter()
    _, truth = exact.search(queries, 10)
    batched_exact = (time.perf_counter() - t0) / len(queries) * 1000
    exact_lat = latencies(lambda q: exact.search(q, 10), queries[:30])

    print(f"vectors: {args.n:,} × {dim} float32 (clustered synthetic), {args.queries} queries")
    print(
        f"exact (baseline): single query p50 {np.percentile(exact_lat[0], 50):.1f} ms"
        f" (CPU {np.percentile(exact_lat[1], 50):.1f} ms), batched {batched_exact:.2f} ms/query"
    )
    kinds = args.kinds.split(",")
    for kind in kinds:
        use_threads(2)  # building is a batch job: both cores
        t0 = time.perf_counter()
        if kind == "ivf":
            index = VectorIndex.ivf(data)
        else:
            index = VectorIndex(dim, metric="l2", kind="hnsw")
            index.add(data)
        build_s = time.perf_counter() - t0
        use_threads(args.threads)
        _, approx = index.search(queries, 10)
        recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(approx, truth, strict=True)])
        wall, cpu = latencies(partial(index.search, k=10), queries)
        mem = index.memory_bytes()
        print(f"{kind}: build {build_s:.0f} s, memory {mem / 2**20 * 1e6 / args.n:.0f} MiB per million")
        print(
            f"  single query wall p50 {np.percentile(wall, 50):.2f} / p99 {np.percentile(wall, 99):.2f} ms;"
            f" CPU p50 {np.percentile(cpu, 50):.2f} / p99 {np.percentile(cpu, 99):.2f} ms"
        )
        print(
            f"  recall@10 vs exact: {recall:.3f};"
            f" {np.percentile(exact_lat[0], 50) / np.percentile(wall, 50):.0f}x faster than exact (p50)"
        )

    codes = rng.integers(0, 256, (args.n, 32), dtype=np.uint8)
    binary = BinaryIndex(256)
    binary.add(codes)
    probe = codes[rng.integers(0, args.n, args.queries)].copy()
    probe[:, 0] ^= 0x0F  # 4 bits flipped: still the nearest
    lat_b, cpu_b = latencies(lambda q: binary.search(q, 10), probe[:100])
    _, found = binary.search(probe[:100], 1)
    hit = np.mean([np.array_equal(codes[f[0]][1:], p[1:]) for f, p in zip(found, probe[:100], strict=True)])
    print(
        f"PDQ binary flat, {args.n:,} hashes: wall p50 {np.percentile(lat_b, 50):.1f} / p99"
        f" {np.percentile(lat_b, 99):.1f} ms; CPU p99 {np.percentile(cpu_b, 99):.1f} ms"
    )
    print(
        f"  exact by construction; nearest found {hit:.0%};"
        f" memory {args.n * 32 / 2**20:.0f} MiB per {args.n:,}"
    )


if __name__ == "__main__":
    main()
