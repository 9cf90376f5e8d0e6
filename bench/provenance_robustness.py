"""Robustness of provenance recovery: sign clips, attack copies (metadata strip + CRF 28 re-encode,
720p → 480p, 10% crop, all three), verify each copy, and count how often the original manifest comes
back — and how often an unrelated, never-signed clip is wrongly matched.

    .venv/bin/python -m bench.provenance_robustness [--clips 50] [--unrelated 100] [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

from bench.provenance_clips import ffmpeg, signed_sources, unrelated
from gate.db import Conn, connect
from gate.media import ContentStore
from gate.settings import Settings
from policies.schema import Provenance
from policies.service import load_file
from provenance import service
from provenance import watermark as wm
from provenance.signing import ManifestSigner
from tests import pg

ATTACKS = {
    "strip+crf28": ["-crf", "28"],
    "720p->480p": ["-vf", "scale=-2:480", "-crf", "23"],
    "crop 10%": ["-vf", "crop=iw*0.9:ih*0.9", "-crf", "23"],
    "all three": ["-vf", "crop=iw*0.9:ih*0.9,scale=-2:480", "-crf", "28"],
}


def attack(src: Path, dest: Path, args: list[str]) -> Path:
    # -map_metadata -1 and a re-encode drop the C2PA manifest box along with every other metadata.
    ffmpeg(
        "-i",
        str(src),
        *args,
        "-map_metadata",
        "-1",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "aac",
        str(dest),
    )
    return dest


def fingerprint_distances(
    conn: Conn, path: Path, own: uuid.UUID | None, prov: Provenance, signer: ManifestSigner
) -> tuple[float, float]:
    """(distance to its own clip, distance to the nearest other clip) by fingerprint alone, with the
    queries verification makes (the copy as it is, and put back in place when the watermark's sync
    search found it cropped)."""
    timed = service._frames(path, every=prov.decode_every_seconds, max_frames=prov.decode_max_frames)
    decoded = wm.decode([f for _, f in timed], secret=signer.watermark_key, params=service.mark_params(prov))
    ranked = service.fingerprint_distances(conn, service.fingerprint_queries(timed, decoded, prov))
    own_d = next((d for d, clip_id in ranked if clip_id == own), 256.0)
    other_d = next((d for d, clip_id in ranked if clip_id != own), 256.0)
    return own_d, other_d


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--unrelated", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    admin = pg.admin_url()
    dbname = pg.create_clone(admin, pg.ensure_template(admin))
    url = pg.url_for(admin, dbname)
    try:
        with tempfile.TemporaryDirectory(prefix="prov-bench-") as tmp:
            work = Path(tmp)
            settings = Settings(database_url=url, var_dir=work / "var")
            signer = ManifestSigner.from_settings(settings)
            store = ContentStore(settings.media_dir)
            policy = load_file(settings.policy_file)
            t0 = time.perf_counter()
            sources = signed_sources(work / "src", args.clips, seconds=args.seconds)
            others = unrelated(work / "unrelated", args.unrelated, seconds=args.seconds)
            print(f"made {len(sources)} + {len(others)} clips in {time.perf_counter() - t0:.0f}s", flush=True)
            hits: dict[str, Counter[str]] = {a: Counter() for a in ATTACKS}
            misses: dict[str, list[str]] = {a: [] for a in ATTACKS}
            own_dist: dict[str, list[float]] = {a: [] for a in ATTACKS}
            other_dist: list[float] = []
            sync_z: dict[str, list[float]] = {a: [] for a in ATTACKS}
            prov = policy.policy.provenance
            with connect(url) as conn:
                for i, src in enumerate(sources):
                    clip_id = uuid.uuid4()
                    conn.execute(
                        "INSERT INTO clips (id, status) VALUES (%(id)s, 'published')", {"id": clip_id}
                    )
                    signed = work / f"signed_{i}.mp4"
                    service.sign_clip(
                        conn,
                        signer=signer,
                        store=store,
                        policy=policy,
                        clip_id=clip_id,
                        source=src,
                        dest=signed,
                        creator_handle="bench",
                        scan_digest="0" * 64,
                        coowner_ids=[],
                        features_cameos=False,
                        remix_of=None,
                    )
                    for name, a in ATTACKS.items():
                        copy = attack(signed, work / "attacked.mp4", a)
                        report = service.verify_media(
                            conn, signer=signer, store=store, data=copy.read_bytes(), policy=policy
                        )
                        rec = report.recovery
                        if report.watermark:
                            sync_z[name].append(report.watermark.sync_z)
                        own_d, other_d = fingerprint_distances(conn, copy, clip_id, prov, signer)
                        own_dist[name].append(own_d)
                        other_dist.append(other_d)
                        if rec and rec.clip_id == clip_id and rec.manifest:
                            hits[name][rec.method] += 1
                        else:
                            misses[name].append(
                                f"{src.name} (wm z={report.watermark.sync_z if report.watermark else '-'})"
                            )
                    print(f"  {i + 1}/{len(sources)} signed and attacked", flush=True)
                false_hits = []
                unrelated_z, unrelated_d = [], []
                for path in others:
                    report = service.verify_media(
                        conn, signer=signer, store=store, data=path.read_bytes(), policy=policy
                    )
                    unrelated_z.append(report.watermark.sync_z if report.watermark else 0.0)
                    unrelated_d.append(fingerprint_distances(conn, path, None, prov, signer)[1])
                    if report.recovery is not None:
                        false_hits.append(f"{path.name} → {report.recovery.method}")
            print()
            print(f"{'attack':<14} {'recovered':>10} {'rate':>7}  by watermark / fingerprint")
            for name in ATTACKS:
                total = sum(hits[name].values())
                print(
                    f"{name:<14} {total:>4}/{len(sources):<5} {total / len(sources):>7.1%}"
                    f"  {hits[name]['watermark']} / {hits[name]['fingerprint']}"
                )
                for m in misses[name]:
                    print(f"    missed: {m}")
            print(f"false recoveries on {len(others)} unrelated clips: {len(false_hits)}")
            print()
            print(
                "watermark sync z (threshold",
                prov.min_sync_z,
                ") and fingerprint distance (threshold",
                prov.fingerprint_max_distance,
                "), min / median / max:",
            )
            for name in ATTACKS:
                print(f"  {name:<14} z {_mmm(sync_z[name])}   own-clip PDQ distance {_mmm(own_dist[name])}")
            print(f"  attacked copies, nearest other signed clip PDQ distance {_mmm(other_dist)}")
            print(f"  unrelated clips: z {_mmm(unrelated_z)}")
            print(f"  unrelated clips: nearest signed clip PDQ distance {_mmm(unrelated_d)}")
            print("fingerprint alone (no watermark) would recover:")
            for name in ATTACKS:
                alone = sum(
                    1
                    for own, other in zip(
                        own_dist[name], other_dist[list(ATTACKS).index(name) :: len(ATTACKS)], strict=True
                    )
                    if own <= prov.fingerprint_max_distance and other - own >= 8
                )
                print(f"  {name:<14} {alone}/{len(sources)}")
            for f in false_hits:
                print(f"    {f}")
            print(f"total {time.perf_counter() - t0:.0f}s")
    finally:
        pg.drop(admin, dbname)
    return 0


def _mmm(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{min(xs):.1f} / {float(np.median(xs)):.1f} / {max(xs):.1f}"


if __name__ == "__main__":
    sys.exit(main())
