"""Loading, validating and hashing policy documents; the holder that hands out the active one."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.schema import Policy


class PolicyInvalid(Exception):
    """A policy document was refused; `errors` say where (field, line) and why."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(f"policy refused: {first['field']} (line {first['line']}): {first['reason']}")


@dataclass(frozen=True)
class ActivePolicy:
    policy: Policy
    sha256: str
    source: str  # the YAML text as given

    @property
    def version(self) -> str:
        return self.policy.version


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest node on `loc` that exists in the document."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                key = next((k for k, _ in node.value if k.value == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _first_alias(text: str) -> int | None:
    """1-based line of the first alias in the document, or None."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1 if event.start_mark is not None else 1
    return None


def parse(text: str) -> ActivePolicy:
    """Validate a YAML policy document; raise PolicyInvalid naming field, line and reason."""
    try:
        alias = _first_alias(text)
        if alias is not None:
            # Anchors and aliases let a few lines expand into millions of nodes (a "billion
            # laughs" document); a policy has no need for them.
            raise PolicyInvalid(
                [{"field": "", "line": alias, "reason": "YAML aliases (*name) are not accepted"}]
            )
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyInvalid([{"field": "", "line": line, "reason": f"not valid YAML: {exc}"}]) from exc
    if not isinstance(data, dict):
        raise PolicyInvalid([{"field": "", "line": 1, "reason": "a policy is a YAML mapping"}])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]),
                "line": _line_of(tree, tuple(err["loc"])),
                "reason": err["msg"],
            }
            for err in exc.errors()
        ]
        raise PolicyInvalid(errors) from exc
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return ActivePolicy(policy, hashlib.sha256(canonical.encode()).hexdigest(), text)


def load_file(path: Path) -> ActivePolicy:
    return parse(path.read_text())


class PolicyHolder:
    """The process's active policy. Readers take `current` once per decision and use that snapshot."""

    def __init__(self, active: ActivePolicy) -> None:
        self._active = active
        self._lock = threading.Lock()

    @property
    def current(self) -> ActivePolicy:
        return self._active

    def replace(self, active: ActivePolicy) -> None:
        with self._lock:
            self._active = active
