"""Robustness of provenance recovery: sign clips, attack copies (metadata strip + CRF 28 re-encode,
720p → 480p, 10% crop, all three), verify each copy, and count how often the original manifest comes
back — and how often an unrelated, never-signed clip is wrongly matched.

    .venv/bin/python -m bench.provenance_robustness [--clips 50] [--unrelated 100] [--seconds 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from bench.provenance_clips import signed_sources, unrelated
from gate.db import connect
from gate.media import ContentStore
from gate.settings import Settings
from policies.service import load_file
from provenance import service
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
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
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
        ],
        check=True,
    )
    return dest


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
                        if rec and rec.clip_id == clip_id and rec.manifest:
                            hits[name][rec.method] += 1
                        else:
                            misses[name].append(
                                f"{src.name} (wm z={report.watermark.sync_z if report.watermark else '-'})"
                            )
                    print(f"  {i + 1}/{len(sources)} signed and attacked", flush=True)
                false_hits = []
                for path in others:
                    report = service.verify_media(
                        conn, signer=signer, store=store, data=path.read_bytes(), policy=policy
                    )
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
            for f in false_hits:
                print(f"    {f}")
            print(f"total {time.perf_counter() - t0:.0f}s")
    finally:
        pg.drop(admin, dbname)
    return 0


if __name__ == "__main__":
    sys.exit(main())
