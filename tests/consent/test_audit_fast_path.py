"""The check route's one-call audit append keeps the hash chain intact beside ordinary appends."""

from __future__ import annotations

import threading
import uuid

from consent import service
from gate import audit
from gate.db import connect
from gate.settings import Settings
from perception.fakes import FakeText
from perception.registry import Models
from policies.service import load_file
from tests.consent.conftest import insert_cameo
from tests.pg import one_row


def test_concurrent_fast_and_ordinary_appends_form_one_valid_chain(db_url: str, settings: Settings) -> None:
    policy = load_file(settings.policy_file)
    models = Models(settings, text=FakeText())
    with connect(db_url) as conn:
        cameo = insert_cameo(conn, permission="everyone")
        requester = uuid.uuid4()
        conn.execute("INSERT INTO subjects (id) VALUES (%s)", (requester,))
    errors: list[BaseException] = []

    def checks() -> None:
        try:
            with connect(db_url) as conn:
                for i in range(25):
                    result = service.check_consent(
                        conn, policy=policy, models=models, settings=settings, requester_id=requester,
                        cameo_ids=[cameo], prompt=f"take {i}", platform_key_id="pk", durable=False,
                    )  # fmt: skip
                    assert result.allowed and conn.info.transaction_status.name == "IDLE"  # committed
        except BaseException as exc:
            errors.append(exc)

    def ordinary() -> None:
        try:
            with connect(db_url) as conn:
                for i in range(25):
                    audit.record(
                        conn, actor="test", action="test.append", policy_version="t", details={"i": i}
                    )
                    conn.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (checks, checks, ordinary)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with connect(db_url) as conn:
        report = audit.verify_chain(conn)
        fast = one_row(conn.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'consent.check'"))[
            "n"
        ]
        grants = one_row(conn.execute("SELECT count(*) AS n FROM consent_grants"))["n"]
    assert report.ok and report.checked == 75, report
    assert fast == 50 == grants
