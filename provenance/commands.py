"""`cameogate sign IN OUT` and `cameogate verify FILE [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from gate import audit
from gate.db import connect, database_url
from gate.errors import Problem
from gate.media import ContentStore
from gate.settings import Settings
from policies.service import load_file
from provenance import service, store
from provenance.signing import ManifestSigner


def _sign(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_file(settings.policy_file)
    signer = ManifestSigner.from_settings(settings)
    try:
        with connect(database_url(settings)) as conn:
            clip_id = uuid.UUID(args.clip_id) if args.clip_id else uuid.uuid4()
            if not args.clip_id:
                # An operator signing a file directly: it is published by definition.
                store.create_clip(conn, clip_id=clip_id, status="published")
                audit.record(
                    conn,
                    actor="cli",
                    action="provenance.register_clip",
                    policy_version=policy.version,
                    target_kind="clip",
                    target_id=str(clip_id),
                )
            signed = service.sign_clip(
                conn,
                signer=signer,
                store=ContentStore(settings.media_dir),
                policy=policy,
                clip_id=clip_id,
                source=Path(args.input),
                dest=Path(args.output),
                creator_handle=args.handle,
                scan_digest=args.scan_digest,
                coowner_ids=[],
                features_cameos=args.features_cameos,
                remix_of=None,
            )
    except Problem as exc:
        print(f"sign refused: {exc.detail} ({exc.code})", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "clip_id": str(signed.clip_id),
                "manifest_id": signed.manifest_id,
                "sha256": signed.sha256,
                "state": signed.validation_state,
            }
        )
    )
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_file(settings.policy_file)
    signer = ManifestSigner.from_settings(settings)
    try:
        data = service.read_media_file(Path(args.file), policy.policy.provenance.verify_max_bytes)
        with connect(database_url(settings)) as conn:
            report = service.verify_media(
                conn, signer=signer, store=ContentStore(settings.media_dir), data=data, policy=policy
            )
    except (Problem, OSError) as exc:
        print(f"verify refused: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 2
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        _print_report(report.model_dump(mode="json"))
    # Exit 0 only for a manifest that validates and chains to our anchors, on a clip not removed.
    return 0 if report.verdict == "trusted" else 1


def _print_report(r: dict[str, Any]) -> None:
    print(r["summary"])
    print(
        f"manifest: {'present' if r['manifest_present'] else 'absent'}; state: {r['validation_state'] or '-'}"
    )
    for c in r["status_codes"]["failure"]:
        print(f"  failure: {c['code']}")
    if r["signer"]:
        s = r["signer"]
        print(f"signer: {s['common_name']} / {s['issuer']} ({s['alg']}); chain: {s['chain']}")
    for line in r["assertions"]:
        print(f"  - {line}")
    w = r["watermark"]
    if w:
        print(f"watermark: {'payload ' + w['payload'] if w['found'] else 'not found'} (sync z {w['sync_z']})")


def register(sub: argparse._SubParsersAction) -> None:
    sign = sub.add_parser("sign", help="watermark and C2PA-sign an MP4 (H.264/AAC)")
    sign.add_argument("input")
    sign.add_argument("output")
    sign.add_argument("--clip-id", help="an existing clip to sign (default: register a new published clip)")
    sign.add_argument("--handle", help="creator handle shown in the visible watermark")
    sign.add_argument("--scan-digest", default="", help="sha256 of the scan decisions, if any")
    sign.add_argument("--features-cameos", action="store_true", help="mark the clip not for AI training")
    sign.set_defaults(handler=_sign)
    verify = sub.add_parser("verify", help="verify a clip's provenance (exit 0 only when trusted)")
    verify.add_argument("file")
    verify.add_argument("--json", action="store_true", help="print the full report as JSON")
    verify.set_defaults(handler=_verify)
