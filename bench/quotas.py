"""Cost of counting a use (policies.quotas.consume) against a bare round trip to PostgreSQL.

Run: .venv/bin/python -m bench.quotas   (uses a throwaway database cloned like the tests do)
"""

from __future__ import annotations

import time
import uuid

from gate.db import connect
from policies import quotas
from policies.service import parse
from tests import pg

N = 500
POLICY = parse(
    'version: "bench"\nquotas:\n  per_subject:\n    generation:\n'
    "      - {limit: 1000000, seconds: 60}\n      - {limit: 1000000, seconds: 86400}\n"
    "  per_platform_key:\n    generation:\n      - {limit: 1000000, seconds: 60}\n"
)


def _rate(fn: object, n: int = N) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return n / (time.perf_counter() - started)


def main() -> None:
    admin = pg.admin_url()
    name = pg.create_clone(admin, pg.ensure_template(admin))
    try:
        with connect(pg.url_for(admin, name), autocommit=True) as conn:
            sid = uuid.uuid4()
            conn.execute("INSERT INTO subjects (id) VALUES (%s)", (sid,))
            baseline = _rate(lambda: conn.execute("SELECT 1").fetchone())
            consume = _rate(
                lambda: quotas.consume(
                    conn, policy=POLICY, subject_id=sid, platform_key_id="bench", kind="generation"
                )
            )
            with conn.transaction():  # as inside a request: the request's commit pays the fsync
                in_tx = _rate(
                    lambda: quotas.consume(
                        conn, policy=POLICY, subject_id=sid, platform_key_id="bench", kind="generation"
                    )
                )
            peek = _rate(
                lambda: quotas.peek(
                    conn, policy=POLICY, subject_id=sid, platform_key_id="bench", kind="generation"
                )
            )
    finally:
        pg.drop(admin, name)
    print(f"{'baseline: SELECT 1':<38} {baseline:8.0f} /s")
    for label, rate in [
        ("consume, 3 windows, own commit", consume),
        ("consume, 3 windows, in a transaction", in_tx),
        ("peek, 3 windows", peek),
    ]:
        print(f"{label:<38} {rate:8.0f} /s  ({baseline / rate:5.1f}x the cost of SELECT 1)")


if __name__ == "__main__":
    main()
