"""Protected people: public figures (names, aliases, reference faces) who may not be generated
except through their own consented cameo; the admin-managed list and the name and face matchers."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import numpy as np
import psycopg

from consent import templates
from gate import audit
from gate.auth import Principal
from gate.crypto import Keyring
from gate.db import Conn
from gate.errors import Conflict, InvalidMedia, NotFound, UnsupportedMedia
from gate.media import decode_image, sniff
from perception.protocols import FaceDetector, FaceEmbedder
from policies import store
from policies.service import ActivePolicy
from safety.normalize import PhraseIndex, normalize

OWNER_KIND = "protected_person"


@dataclass(frozen=True)
class NameMatch:
    person_id: uuid.UUID
    name: str
    subject_id: uuid.UUID | None  # the person's own subject, when linked
    phrase: str  # the name or alias that matched
    matched: str  # the normalised prompt words that matched it
    score: float

    def to_dict(self) -> dict[str, object]:
        return {
            "person_id": str(self.person_id),
            "name": self.name,
            "phrase": self.phrase,
            "matched": self.matched,
            "score": round(self.score, 3),
        }


@dataclass(frozen=True)
class FaceMatch:
    person_id: uuid.UUID
    name: str
    subject_id: uuid.UUID | None
    face_index: int  # row of the probe embeddings that matched
    score: float  # cosine similarity

    def to_dict(self) -> dict[str, object]:
        return {
            "person_id": str(self.person_id),
            "name": self.name,
            "face_index": self.face_index,
            "score": round(self.score, 4),
        }


# --- the admin-managed list ---------------------------------------------------------------------


def _clean_aliases(name: str, aliases: list[str]) -> list[str]:
    seen = {normalize(name)}
    out = []
    for alias in aliases:
        key = normalize(alias)
        if key and key not in seen:
            seen.add(key)
            out.append(alias.strip())
    return out


def _check_subject(conn: Conn, subject_id: uuid.UUID | None) -> None:
    if subject_id is not None and store.subject_age_band(conn, subject_id) is None:
        raise NotFound(f"no subject {subject_id}", code="subject_not_found")


def _require_name(name: str) -> str:
    if not normalize(name):
        raise Conflict("a protected person's name needs letters or digits", code="name_not_matchable")
    return name.strip()


def create(
    conn: Conn,
    *,
    policy: ActivePolicy,
    actor: Principal | str,
    name: str,
    aliases: list[str],
    subject_id: uuid.UUID | None,
) -> store.ProtectedPerson:
    name = _require_name(name)
    _check_subject(conn, subject_id)
    try:
        with conn.transaction():
            pid = store.insert_person(
                conn, name=name, aliases=_clean_aliases(name, aliases), subject_id=subject_id
            )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"{name!r} is already protected", code="protected_person_exists") from exc
    audit.record(
        conn, actor=actor, action="policy.protected_person.create", policy_version=policy.version,
        target_kind="protected_person", target_id=pid,
        details={"name": name, "linked_subject": str(subject_id) if subject_id else None},
    )  # fmt: skip
    return get(conn, pid)


def get(conn: Conn, person_id: uuid.UUID) -> store.ProtectedPerson:
    found = store.get_person(conn, person_id)
    if found is None:
        raise NotFound(f"no protected person {person_id}", code="protected_person_not_found")
    return found


def update(
    conn: Conn,
    *,
    policy: ActivePolicy,
    actor: Principal | str,
    person_id: uuid.UUID,
    name: str | None = None,
    aliases: list[str] | None = None,
    subject_id: uuid.UUID | None = None,
    unlink_subject: bool = False,
) -> store.ProtectedPerson:
    """Rename, replace aliases, or link/unlink the person's own subject (their cameo owner)."""
    current = get(conn, person_id)
    new_name = _require_name(name) if name is not None else current.name
    new_aliases = _clean_aliases(new_name, aliases if aliases is not None else current.aliases)
    new_subject = None if unlink_subject else (subject_id or current.subject_id)
    _check_subject(conn, new_subject)
    try:
        with conn.transaction():
            store.update_person(
                conn, person_id=person_id, name=new_name, aliases=new_aliases, subject_id=new_subject
            )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"{new_name!r} is already protected", code="protected_person_exists") from exc
    audit.record(
        conn, actor=actor, action="policy.protected_person.update", policy_version=policy.version,
        target_kind="protected_person", target_id=person_id,
        details={"name": new_name, "linked_subject": str(new_subject) if new_subject else None},
    )  # fmt: skip
    return get(conn, person_id)


def delete(conn: Conn, *, policy: ActivePolicy, actor: Principal | str, person_id: uuid.UUID) -> None:
    """Remove the person and every reference template of theirs at once."""
    person = get(conn, person_id)
    purged = templates.purge(conn, owner_kind=OWNER_KIND, owner_ref=person_id)
    store.delete_person(conn, person_id)
    audit.record(
        conn, actor=actor, action="policy.protected_person.delete", policy_version=policy.version,
        target_kind="protected_person", target_id=person_id,
        details={"name": person.name, "templates_purged": purged},
    )  # fmt: skip


@dataclass(frozen=True)
class PhotoAdded:
    person_id: uuid.UUID
    template_id: uuid.UUID
    model_id: str


def add_photo(
    conn: Conn,
    *,
    policy: ActivePolicy,
    actor: Principal | str,
    detector: FaceDetector,
    embedder: FaceEmbedder,
    keyring: Keyring,
    person_id: uuid.UUID,
    data: bytes,
) -> PhotoAdded:
    """Detect the one face in a reference photo, embed it and store it as an encrypted template.

    A photo with no face or several faces is refused (422): which face is the person would be a
    guess, and a wrong guess would block an innocent bystander's likeness.
    """
    get(conn, person_id)
    if sniff(data) != "image":
        raise UnsupportedMedia("a reference photo must be an image (JPEG, PNG, WebP)", code="not_an_image")
    rgb = decode_image(data, policy.policy.uploads)
    faces = detector.detect(rgb)
    if not faces:
        raise InvalidMedia("no face was found in the photo", code="no_face")
    if len(faces) > 1:
        raise InvalidMedia(
            f"{len(faces)} faces were found; send a photo of the person alone", code="several_faces"
        )
    embedding = embedder.embed(rgb, faces)
    tid = templates.store(
        conn, keyring, owner_kind=OWNER_KIND, owner_ref=person_id, kind="face",
        model_id=embedder.model_id, array=embedding,
    )  # fmt: skip
    audit.record(
        conn, actor=actor, action="policy.protected_person.add_photo", policy_version=policy.version,
        target_kind="protected_person", target_id=person_id,
        details={"template_id": str(tid), "model_id": embedder.model_id},
    )  # fmt: skip
    return PhotoAdded(person_id, tid, embedder.model_id)


# --- matching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    version: uuid.UUID
    people: dict[uuid.UUID, store.ProtectedPerson]
    index: PhraseIndex[uuid.UUID]  # person -> name and aliases


class _NameCache:
    """The last list of names this process read, indexed, and the list's version it read. A
    prompt costs a one-row read of the version; the list is read again only when it changed (a
    change committed by any process is seen by the next prompt, as when the list was read for
    every prompt)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: _Names | None = None

    def get(self, conn: Conn) -> _Names:
        version = store.people_version(conn)
        if version is None:  # no version to trust (its row was deleted by hand): read every time
            return self._read(conn, uuid.UUID(int=0))
        names = self._names
        if names is not None and names.version == version:
            return names
        with self._lock:  # one thread re-reads; the others then find its result
            if self._names is None or self._names.version != version:
                self._names = self._read(conn, version)
            return self._names

    @staticmethod
    def _read(conn: Conn, version: uuid.UUID) -> _Names:
        people = store.people_names(conn)
        index: PhraseIndex[uuid.UUID] = PhraseIndex()
        for person in people:
            index.set(person.id, [person.name, *person.aliases])
        return _Names(version, {p.id: p for p in people}, index)


_names = _NameCache()


def match_prompt(conn: Conn, *, policy: ActivePolicy, prompt: str) -> list[NameMatch]:
    """Protected people named in a prompt (name or alias), through the shared normaliser: the same
    spelling, accent, leetspeak, spacing and small-typo tolerance as opt-out names."""
    names = _names.get(conn)
    found = []
    for person_id, hits in names.index.find(normalize(prompt)).items():
        best = min(hits, key=lambda hit: hit.distance)  # the first of equals: the name, then aliases
        person = names.people[person_id]
        found.append(
            NameMatch(person.id, person.name, person.subject_id, best.phrase, best.matched, best.score)
        )
    return found


def people_covered_by_cameos(conn: Conn, *, consented_cameo_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Protected people (ids) who appear through their own consented cameo: their linked subject
    owns one of `consented_cameo_ids`. For likeness scans that work on gallery entries (where a
    protected person's entry carries no subject): such a person's match counts as covered."""
    if not consented_cameo_ids:
        return set()
    return store.people_linked_to_cameos(conn, list(consented_cameo_ids))


def face_threshold(policy: ActivePolicy, model_id: str) -> float:
    section = policy.policy.protected_people
    return section.face_thresholds.get(model_id, section.default_face_threshold)


def match_faces(
    conn: Conn,
    *,
    keyring: Keyring,
    embedder_model_id: str,
    embeddings: np.ndarray,
    threshold: float,
) -> list[FaceMatch]:
    """Protected people whose reference faces match any probe face (rows of L2-normalised
    embeddings from `embedder_model_id`): the best score per (probe face, person) at or above
    `threshold`, highest first."""
    probes = np.atleast_2d(np.asarray(embeddings, np.float32))
    if probes.shape[0] == 0:
        return []
    gallery = [
        g
        for g in templates.gallery(conn, keyring, kind="face", model_id=embedder_model_id)
        if g.owner_kind == OWNER_KIND
    ]
    if not gallery:
        return []
    people = {p.id: p for p in store.people_by_ids(conn, [g.owner_ref for g in gallery])}
    found = []
    for entry in gallery:
        person = people.get(entry.owner_ref)
        if person is None:
            continue
        scores = (probes @ entry.embeddings.T).max(axis=1)
        for i, score in enumerate(scores):
            if score >= threshold:
                found.append(FaceMatch(person.id, person.name, person.subject_id, i, float(score)))
    return sorted(found, key=lambda m: -m.score)
