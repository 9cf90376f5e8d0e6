"""Prompt name matching at scale: `PhraseIndex.find` against trying `find_phrase` on every phrase
(what opt-out names and protected people cost each prompt before the index), same run, same
prompts. Phrases are random one-to-three-word names; each prompt holds 0-3 of them with up to two
typos among random words (eval/names.py). Also checks that both give the same matches.

    .venv/bin/python -m bench.phrase_index [--sizes 1000,10000,30000] [--prompts 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from eval import names
from safety.normalize import PhraseIndex, find_phrase, normalize


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,30000", help="phrases in the index, comma-separated")
    parser.add_argument(
        "--prompts", type=int, default=200, help="prompts per size (the linear scan gets fewer)"
    )
    opts = parser.parse_args()
    rng = random.Random(20261129)

    head = f"{'phrases':>8}{'build s':>9}{'index ms/prompt p50':>21}{'p99':>8}"
    print(f"{head}{'linear ms/prompt':>18}{'speed-up':>10}")
    for size in (int(s) for s in opts.sizes.split(",")):
        phrases = [names.name(rng) for _ in range(size)]
        started = time.perf_counter()
        index: PhraseIndex[int] = PhraseIndex()
        for i, phrase in enumerate(phrases):
            index.set(i, [phrase])
        build = time.perf_counter() - started
        prompts = [normalize(names.prompt(rng, phrases, words=(5, 30))) for _ in range(opts.prompts)]
        timings = []
        for text in prompts:
            t = time.perf_counter()
            index.find(text)
            timings.append(time.perf_counter() - t)
        # The linear scan costs ~0.15 ms a phrase: a sample of the prompts keeps the run short.
        sample = prompts[: max(3, min(len(prompts), 2_000_000 // size // 100))]
        linear = []
        for text in sample:
            t = time.perf_counter()
            expected = {i: [h] for i, p in enumerate(phrases) if (h := find_phrase(text, p)) is not None}
            linear.append(time.perf_counter() - t)
            if index.find(text) != expected:
                raise SystemExit(f"the index and the linear scan disagree on {text!r}")
        p50 = statistics.median(timings) * 1000
        p99 = sorted(timings)[int(0.99 * (len(timings) - 1))] * 1000
        lin = statistics.median(linear) * 1000
        print(f"{size:>8}{build:>9.2f}{p50:>21.3f}{p99:>8.3f}{lin:>18.1f}{lin / p50:>9.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
