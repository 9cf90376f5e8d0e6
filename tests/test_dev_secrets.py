"""Development secrets: created once, atomically, whoever asks first."""

from __future__ import annotations

import threading
from pathlib import Path

from gate.settings import Settings


def test_concurrent_first_reads_of_a_dev_secret_all_get_the_one_stored(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    start = threading.Barrier(8)
    seen: list[bytes] = []

    def read() -> None:
        start.wait()
        seen.append(settings.secret("token_secret"))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = settings.secret("token_secret")
    assert len(stored) == 32 and seen == [stored] * 8
    assert sorted(p.name for p in (tmp_path / "var" / "secrets").iterdir()) == ["token_secret"]
    assert (tmp_path / "var" / "secrets" / "token_secret").stat().st_mode & 0o777 == 0o600
