"""Input every JSON route shares: a strict JSON loader and text types free of control characters.

Why strict (docs/decisions.md, "Ambiguous input is refused"): ``{"severity": "P3", "severity":
"P1"}`` means different things to different parsers, and a body nested thousands deep only
exists to exhaust a parser, so both are refused as not JSON (400). A NUL cannot be stored in a
PostgreSQL text column and other control characters only hide what a title says, so the
console's own API refuses them (422 naming the field) — except where a refusal would lose data
(the Alertmanager webhook, whose 4xx is never retried), which uses :func:`scrub_controls`.

The ``*_PATTERN`` constants are the same rules as JSON Schema patterns, for ``openapi.json``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator

#: Deeper than any payload the console takes (an Alertmanager webhook is 4 levels).
MAX_JSON_DEPTH = 32
#: What replaces a control character where refusing is not an option (U+FFFD REPLACEMENT CHARACTER).
REPLACEMENT = "\ufffd"

_LINE_CONTROLS = "\u0000-\u001f\u007f-\u009f"
_TEXT_CONTROLS = "\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
_LINE_CONTROL = re.compile(f"[{_LINE_CONTROLS}]")
_TEXT_CONTROL = re.compile(f"[{_TEXT_CONTROLS}]")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)

#: One line of text: no C0/C1 control character at all (tab and newline included).
LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
#: One line that also has at least one character other than white space.
NONBLANK_LINE_PATTERN = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f]*"
    "[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
    "[^\\u0000-\\u001f\\u007f-\\u009f]*$"
)
#: Free text: tab, newline and carriage return allowed, other control characters not.
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


class JsonBodyError(ValueError):
    """The body is not JSON the console accepts; the message says why (never echoes the body)."""


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # in C; a key given twice leaves fewer entries than pairs
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion: one level at a time, stopping past the limit."""
    depth, level = 0, [value]
    while depth <= MAX_JSON_DEPTH:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [
            child for item in containers for child in (item.values() if isinstance(item, dict) else item)
        ]
    return depth


def loads_strict(raw: bytes | str) -> Any:
    """Parse JSON, refusing duplicate keys, nesting deeper than ``MAX_JSON_DEPTH`` and bad UTF-8."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise JsonBodyError(f"the body repeats the key {json.dumps(str(exc))[:120]} in one object") from None
    except RecursionError:
        raise JsonBodyError(f"the body is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except UnicodeDecodeError:
        raise JsonBodyError("the body is not UTF-8") from None
    except ValueError as exc:
        raise JsonBodyError(f"the body is not valid JSON: {exc}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise JsonBodyError(f"the body is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _refuse(pattern: re.Pattern[str], allowed: str) -> Any:
    def check(value: str) -> str:
        found = pattern.search(value)
        if found is not None:
            raise ValueError(
                f"control character U+{ord(found.group()):04X} at position {found.start()} "
                f"is not allowed{allowed}"
            )
        return value

    return check


def _nonblank(value: str) -> str:
    """Something other than white space, stripped of the white space around it (after the length check)."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _rfc3339(value: str) -> str:
    if not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 date-time such as 2026-12-01T12:00:00Z")
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected an RFC 3339 date-time such as 2026-12-01T12:00:00Z") from None
    return value


# Validators to put in ``Annotated[str, StringConstraints(...), <validator>]`` (after the length check).
#: A one-line string (a title, a label): no control characters.
LINE = AfterValidator(_refuse(_LINE_CONTROL, ""))
#: A one-line string that must say something (a title, a check); stored stripped.
NONBLANK_LINE = AfterValidator(lambda value: _nonblank(_refuse(_LINE_CONTROL, "")(value)))
#: Any text with something other than white space in it; stored stripped.
NONBLANK = AfterValidator(_nonblank)
#: Free text (a summary): tab, newline and carriage return allowed; other control characters not.
FREE_TEXT = AfterValidator(_refuse(_TEXT_CONTROL, " (tab, newline and CR are)"))
#: An RFC 3339 timestamp, kept as the client wrote it.
Timestamp = Annotated[str, AfterValidator(_rfc3339)]


def has_line_control(value: str) -> bool:
    return _LINE_CONTROL.search(value) is not None


def scrub_controls(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` with every control character in its strings (and keys) replaced by U+FFFD.

    Returns the cleaned value and the dotted paths that changed. Tab, newline and CR are kept
    (free text such as a description uses them).
    """
    changed: list[str] = []
    if isinstance(value, str):
        cleaned = _TEXT_CONTROL.sub(REPLACEMENT, value)
        return cleaned, ([path or "(value)"] if cleaned != value else [])
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            cleaned, where = scrub_controls(item, f"{path}.{index}" if path else str(index))
            items.append(cleaned)
            changed.extend(where)
        return items, changed
    if isinstance(value, dict):
        mapping: dict[str, Any] = {}
        for key, item in value.items():
            clean_key = _TEXT_CONTROL.sub(REPLACEMENT, key)
            item_path = f"{path}.{clean_key}" if path else clean_key
            if clean_key != key:
                changed.append(f"{item_path} (key)")
            cleaned, inner = scrub_controls(item, item_path)
            mapping[clean_key] = cleaned
            changed.extend(inner)
        return mapping, changed
    return value, changed
