"""HTTP routes of the provenance domain: parse, call one service function, return a response model.

POST /v1/verify is for auditors: it decodes video and searches the fingerprint store, which is
costly work we do not offer anonymously. The soft-binding resolution API (/v1/c2pa/...) is public,
as the C2PA specification intends — any validator that finds our watermark in a stripped copy can
fetch the original manifest. That discloses nothing new: the manifest already ships inside every
published copy, it names nobody (co-owners are per-clip pseudonyms), and only published clips
resolve (drafts and blocked clips are 404, removed clips a 410 tombstone).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response

from gate.auth import Allow, Principal
from gate.media import read_upload
from gate.web import Ctx, CurrentPolicy, DbConn
from provenance import service
from provenance.lifecycle import signer
from provenance.schemas import ByBindingQuery, Matches, SupportedAlgorithms, VerifyReport

router = APIRouter(tags=["provenance"])

Auditor = Annotated[Principal, Depends(Allow("auditor", "admin"))]


@router.post("/v1/verify")
def verify(
    conn: DbConn, ctx: Ctx, policy: CurrentPolicy, principal: Auditor, file: Annotated[UploadFile, File()]
) -> VerifyReport:
    """Verify a clip: manifest, validation state and codes, signer, assertions, watermark, recovery."""
    data = read_upload(file, policy.policy.provenance.verify_max_bytes)
    return service.verify_media(conn, signer=signer(ctx), store=ctx.store, data=data, policy=policy)


@router.get("/v1/c2pa/services/supportedAlgorithms")
def supported_algorithms() -> SupportedAlgorithms:
    """Soft-binding algorithms this resolver answers for (C2PA soft-binding resolution API)."""
    return service.supported_algorithms()


@router.get("/v1/c2pa/matches/byBinding")
def matches_by_binding_get(
    conn: DbConn,
    policy: CurrentPolicy,
    alg: Annotated[str, Query(max_length=200)],
    value: Annotated[str, Query(max_length=10_000)],
) -> Matches:
    return service.matches_by_binding(conn, policy=policy, alg=alg, value=value)


@router.post("/v1/c2pa/matches/byBinding")
def matches_by_binding_post(conn: DbConn, policy: CurrentPolicy, body: ByBindingQuery) -> Matches:
    return service.matches_by_binding(conn, policy=policy, alg=body.alg, value=body.value)


@router.get("/v1/c2pa/manifests/{manifest_id}", response_class=Response)
def manifest(conn: DbConn, manifest_id: str, accept: Annotated[str | None, Query()] = None) -> Response:
    """The manifest store (application/c2pa) of a published clip; removed clips answer 410."""
    row = service.published_manifest(conn, manifest_id=manifest_id)
    if accept == "json":
        return Response(service.manifest_json(row), media_type="application/json")
    return Response(row.manifest_store, media_type="application/c2pa")
