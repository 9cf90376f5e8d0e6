"""The gated pipeline one job runs through. Each stage records its decision, scores, time and
policy version; any stage can block; nothing is published unless every stage passed and consent
still holds inside the publishing transaction.

    policy → prompt scan → input scan → consent → generate → output scan → watermark + sign → publish
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from psycopg_pool import ConnectionPool

from consent import service as consent
from consent import templates
from gate import audit, outbox
from gate.db import Conn
from gate.media import ContentStore
from gate.settings import Settings
from generation import service, store
from generation.backends import GeneratorBackend, RenderRequest
from generation.store import Job
from generation.worker import JobBlocked, JobControl
from perception.faces import detect_downscaled_many
from perception.registry import Models
from policies import rules
from policies import store as policy_store
from policies.service import ActivePolicy, PolicyHolder
from provenance import service as provenance
from safety import service as safety

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """What a worker process holds for every job it runs."""

    settings: Settings
    pool: ConnectionPool[Conn]
    policies: PolicyHolder
    store: ContentStore
    models: Models
    backend: GeneratorBackend
    indexes: Any  # safety's indexes (safety.lifecycle.indexes)
    signer: Any  # provenance's signer (provenance.lifecycle.signer)
    services: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """One attempt at one job: the policy snapshot it reads and the stages it recorded."""

    deps: Deps
    job: Job
    control: JobControl
    policy: ActivePolicy
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, progress: float, *, conn: Conn | None = None) -> Iterator[dict[str, Any]]:
        """Run a stage: its body fills `details`; a JobBlocked inside records 'block'.

        With `conn`, a passing stage is recorded in that transaction (publish: the record and the
        state change commit together); otherwise, and for any failure, in a transaction of its own.
        """
        self.control.stage(name, progress)
        details: dict[str, Any] = {}
        started = time.perf_counter()
        decision = "pass"
        try:
            yield details
        except JobBlocked as blocked:
            decision = "block"
            details.update(code=blocked.code, reason=blocked.detail)
            raise
        except Exception as exc:
            decision = "error"
            details.update(error=type(exc).__name__)
            raise
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.timings[name] = ms
            record: dict[str, Any] = {
                "job_id": self.job.id, "attempt": self.job.attempts, "stage": name, "decision": decision,
                "ms": round(ms, 2), "policy_version": self.policy.version, "details": details,
            }  # fmt: skip
            if conn is not None and decision == "pass":
                store.record_stage(conn, **record)
            else:
                with self.deps.pool.connection() as own:
                    store.record_stage(own, **record)


def run_job(deps: Deps, job: Job, control: JobControl) -> None:
    with tempfile.TemporaryDirectory(prefix=f"job-{job.id}-") as tmp:
        run = Run(deps, job, control, deps.policies.current, Path(tmp))
        _policy_stage(run)
        _prompt_scan(run)
        input_frames = _input_scan(run)
        _consent_stage(run)
        rendered = _generate(run, input_frames)
        scan_digest, marking = _output_scan(run, rendered)
        signed = _sign(run, rendered, scan_digest, marking)
        _publish(run, signed)


def _policy_stage(run: Run) -> None:
    """Policy rules that hold for the job as queued: duration, age bands, blocked content
    categories, protected people by name. Quotas were counted when the job was accepted."""
    job = run.job
    with run.stage("policy", 0.02) as details, run.deps.pool.connection() as conn:
        age_band = policy_store.subject_age_band(conn, job.requester_id) or "adult"
        facts = policy_store.cameo_facts(conn, job.cameo_ids)
        results = [rules.duration_rule(run.policy, duration_seconds=job.duration_s)]
        results += rules.age_band_rules(
            run.policy, requester_id=job.requester_id, requester_age_band=age_band, cameos=facts
        )
        results += rules.evaluate_prompt(
            conn,
            policy=run.policy,
            text_model=run.deps.models.text,
            prompt=job.prompt,
            consented_subject_ids=frozenset(c.owner_id for c in facts),
        ).rules
        details["rules"] = [r.to_dict() for r in results if r.fired]
        # "require_approval" (an adult using a minor's cameo) was settled by the consent check
        # that issued the token; only outright blocks stop the job here.
        blocking = [r for r in results if r.fired and r.effect == "block"]
        if blocking:
            raise JobBlocked(f"policy.{blocking[0].rule}", blocking[0].reason)


def _prompt_scan(run: Run) -> None:
    with run.stage("prompt_scan", 0.05) as details, run.deps.pool.connection() as conn:
        scan = safety.scan_prompt(
            conn, policy=run.policy, models=run.deps.models, indexes=run.deps.indexes, prompt=run.job.prompt,
            territory=run.job.territory,
        )  # fmt: skip
        details.update(scan.to_dict())
        if scan.decision == "block":
            raise JobBlocked("prompt_blocked", "the prompt matches a rights holder's opt-out")


def _scan_media(run: Run, data: bytes, details: dict[str, Any]) -> tuple[safety.MediaScan, list[np.ndarray]]:
    """safety's media scan over frames sampled as safety samples them (≥ 1 fps plus scene
    changes) and the sound, with the job's cameos as the consented set."""
    frames, audio = safety.decode_scan_media(data, policy=run.policy)
    with run.deps.pool.connection() as conn:
        scan = safety.scan_media(
            conn,
            policy=run.policy,
            models=run.deps.models,
            indexes=run.deps.indexes,
            keyring=run.deps.settings.keyring(),
            frames=frames,
            audio=audio,
            consented_cameo_ids=set(run.job.cameo_ids),
            territory=run.job.territory,
        )
    details.update(scan.to_dict())
    return scan, [f for _, f in frames]


def _input_scan(run: Run) -> list[np.ndarray]:
    """IP in the input media, and people: every face in an input must be a consented cameo.
    Returns the sampled frames, which the backend animates."""
    if run.job.input_sha256 is None:
        return []
    with run.stage("input_scan", 0.1) as details:
        scan, frames = _scan_media(run, run.deps.store.get(run.job.input_sha256), details)
        if scan.decision == "block":
            raise _media_block("input", scan)
        strangers = _unconsented_faces(run, frames)
        details["unconsented_faces"] = strangers
        if strangers:
            raise JobBlocked(
                "input_person_without_consent", "a person in the input media is not a consented cameo"
            )
    return frames


def _media_block(where: str, scan: safety.MediaScan) -> JobBlocked:
    """Name what blocked a media scan: an unconsented likeness first (people before IP)."""
    uncovered = [x for x in scan.likeness if not x.covered]
    if uncovered:
        who = (
            "a protected person"
            if uncovered[0].owner_kind == "protected_person"
            else "a cameo without consent"
        )
        return JobBlocked(
            f"{where}_likeness_without_consent", f"the {where} shows a {uncovered[0].kind} of {who}"
        )
    titles = sorted({scan.titles.get(m.optout_id, str(m.optout_id)) for m in scan.matches})
    return JobBlocked(f"{where}_ip_match", f"the {where} matches the opt-out of {', '.join(titles)}")


def _unconsented_faces(run: Run, frames: list[np.ndarray]) -> int:
    """Faces in the frames that match none of the job's consented cameos (strangers included:
    a photoreal person nobody enrolled has not consented either)."""
    models = run.deps.models
    keyring = run.deps.settings.keyring()
    with run.deps.pool.connection() as conn:
        consented = [
            np.atleast_2d(t)
            for cid in run.job.cameo_ids
            for t in templates.load(conn, keyring, owner_kind="cameo", owner_ref=cid, kind="face")
        ]
    gallery = np.vstack(consented) if consented else np.zeros((0, models.face_embedder.dim), np.float32)
    threshold = run.policy.policy.safety.face_match_threshold
    strangers = 0
    short_side = run.policy.policy.safety.likeness_detect_short_side
    for frame, faces in zip(
        frames, detect_downscaled_many(models.face_detector, frames, short_side), strict=True
    ):
        if not faces:
            continue
        emb = models.face_embedder.embed(frame, faces)
        best = (emb @ gallery.T).max(axis=1) if len(gallery) else np.zeros(len(faces))
        strangers += int((best < threshold).sum())
    return strangers


def _consent_stage(run: Run) -> None:
    job = run.job
    with run.stage("consent", 0.15) as details:
        if not job.cameo_ids:
            details["cameos"] = 0
            return
        with run.deps.pool.connection() as conn:
            try:
                consent.validate_token(
                    conn,
                    settings=run.deps.settings,
                    token=job.consent_token or "",
                    requester_id=job.requester_id,
                    cameo_ids=job.cameo_ids,
                    prompt=job.prompt,
                )
            except Exception as exc:
                code = getattr(exc, "code", "consent_invalid")
                raise JobBlocked(code, str(exc)) from exc
        details["cameos"] = len(job.cameo_ids)


def _reference_faces(run: Run) -> list[np.ndarray]:
    """One reference crop per consented cameo (a template may hold several crops, N×H×W×3)."""
    keyring = run.deps.settings.keyring()
    faces = []
    with run.deps.pool.connection() as conn:
        for cid in run.job.cameo_ids:
            crops = templates.load(conn, keyring, owner_kind="cameo", owner_ref=cid, kind="face_crop")
            if crops:
                first = np.asarray(crops[0], np.uint8)
                faces.append(first[0] if first.ndim == 4 else first)
    return faces


def _generate(run: Run, input_frames: list[np.ndarray]) -> Path:
    job = run.job
    out = run.workdir / "rendered.mp4"
    with run.stage("generate", 0.2) as details:
        request = RenderRequest(
            prompt=job.prompt,
            duration=job.duration_s,
            width=job.width,
            height=job.height,
            fps=job.fps,
            seed=job.seed,
            faces=_reference_faces(run),
            input_frames=input_frames,
        )

        def progress(p: float) -> None:
            run.control.check()

        run.deps.backend.render(request, out, progress=progress)
        details.update(
            backend=run.deps.backend.name, version=run.deps.backend.version, shots=len(request.shots)
        )
    return out


def _output_scan(run: Run, rendered: Path) -> tuple[str, provenance.Marking | None]:
    """IP on sampled frames; every face and voice against all verified cameos and protected
    people. Returns a digest of the decisions for the manifest, and the watermark pass.

    The watermark pass starts first and runs while the scan does (it is another process): both
    read the same rendered file and neither needs the other's result, and a clip is only ever
    signed after the scan passed. A blocked scan kills the pass; its output stays in the job's
    scratch directory and is deleted with it."""
    with run.stage("output_scan", 0.6) as details:
        marking = _start_marking(run, rendered)
        try:
            scan, _ = _scan_media(run, rendered.read_bytes(), details)
            if scan.decision == "block":
                raise _media_block("output", scan)
        except BaseException:
            if marking is not None:
                marking.close()
            raise
    return hashlib.sha256(json.dumps(details, sort_keys=True, default=str).encode()).hexdigest(), marking


def _start_marking(run: Run, rendered: Path) -> provenance.Marking | None:
    """None when an earlier attempt of this job already signed the clip (it is reused)."""
    with run.deps.pool.connection() as conn:
        if provenance.signed_copy(conn, store=run.deps.store, clip_id=run.job.clip_id) is not None:
            return None
        return provenance.start_marking(
            conn, signer=run.deps.signer, policy=run.policy, source=rendered,
            workdir=run.workdir / "marking", creator_handle=None,
        )  # fmt: skip


def _sign(run: Run, rendered: Path, scan_digest: str, marking: provenance.Marking | None) -> Any:
    job = run.job
    dest = run.workdir / "signed.mp4"
    with run.stage("watermark_sign", 0.8) as details, run.deps.pool.connection() as conn:
        owners = conn.execute(
            "SELECT DISTINCT owner_id FROM clip_coowners WHERE clip_id = %s ORDER BY owner_id", (job.clip_id,)
        ).fetchall()
        signed = provenance.signed_copy(conn, store=run.deps.store, clip_id=job.clip_id)
        details["reused_earlier_signature"] = signed is not None
        if signed is None:
            signed = provenance.sign_clip(
                conn, signer=run.deps.signer, store=run.deps.store, policy=run.policy, clip_id=job.clip_id,
                source=rendered, dest=dest, creator_handle=None, scan_digest=scan_digest,
                coowner_ids=[r["owner_id"] for r in owners], features_cameos=bool(job.cameo_ids),
                remix_of=job.remix_of, marking=marking,
            )  # fmt: skip
        elif marking is not None:
            marking.close()
        details.update(signed=True, scan_digest=scan_digest)
    return signed


def _publish(run: Run, signed: Any) -> None:
    """One transaction: the job is still ours, consent still holds (cameo rows locked against a
    concurrent revocation), the clip becomes retrievable, co-owners and the platform are told."""
    job = run.job
    digest = signed.sha256  # sign_clip already put the signed file in the content store
    with run.deps.pool.connection() as conn, run.stage("publish", 0.95, conn=conn) as details:
        current = store.lock_job(conn, job.id)
        if current is None or current.state != "running" or current.lease_owner != run.control.worker_id:
            raise JobBlocked("job_no_longer_ours", "the job was cancelled or taken over before publishing")
        if job.cameo_ids:
            try:
                consent.recheck_for_publish(
                    conn,
                    policy=run.policy,
                    models=run.deps.models,
                    requester_id=job.requester_id,
                    cameo_ids=job.cameo_ids,
                    prompt=job.prompt,
                )
            except Exception as exc:
                raise JobBlocked(getattr(exc, "code", "consent_revoked"), str(exc)) from exc
        conn.execute(
            "UPDATE clips SET status = 'published', media_sha256 = %s, published_at = now()"
            " WHERE id = %s AND status = 'draft'",
            (digest, job.clip_id),
        )
        service.end_job(conn, job_id=job.id, state="published", worker=run.control.worker_id)
        audit.record(
            conn,
            actor=f"worker:{run.control.worker_id}",
            action="generation.publish",
            policy_version=run.policy.version,
            subject_id=job.requester_id,
            target_kind="clip",
            target_id=job.clip_id,
            details={"job_id": job.id, "media_sha256": digest},
        )
        outbox.enqueue(
            conn,
            event="clip.published",
            platform_key_id=job.platform_key_id,
            payload={"clip_id": job.clip_id, "job_id": job.id},
        )
        details.update(media_sha256=digest, clip_id=str(job.clip_id))
