"""The one-line preview of a trace's input that trace lists show (Mastra's rule).

The text of the user messages when the input is a message list (or an object with a
``messages`` list): string contents as they are, array contents' text parts joined with
a space, messages joined with ``" | "``; an input with messages but none from the user
has no preview. Otherwise the input itself if it is text, else its compact JSON. Cut to
100 UTF-16 code units plus ``…`` (JavaScript string length, so a Mastra app and this
library cut non-BMP text at the same place).
"""

from __future__ import annotations

import json
from typing import Any

PREVIEW_MAX_LENGTH = 100


def _truncate(text: str, limit: int) -> str | None:
    if not text:
        return None
    units = text.encode("utf-16-le")
    if len(units) <= 2 * limit:
        return text
    return units[: 2 * limit].decode("utf-16-le", "ignore") + "…"


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(
                    part.get("text"), str):
                parts.append(part["text"])
        return " ".join(p for p in parts if p)
    return ""


def input_preview(value: Any, limit: int = PREVIEW_MAX_LENGTH) -> str | None:
    """The preview of a span input, or None when there is nothing to show."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[0] in "{[":
            try:
                value = json.loads(text)
            except ValueError:
                return None
        elif text[0] == '"':
            try:
                value = json.loads(text)
            except ValueError:
                value = text
        else:
            value = text
    messages = value if isinstance(value, list) else (
        value.get("messages") if isinstance(value, dict) else None)
    if isinstance(messages, list):
        texts = [_message_text(m.get("content")) for m in messages
                 if isinstance(m, dict) and m.get("role") == "user"]
        joined = " | ".join(t for t in texts if t)
        return _truncate(joined, limit)
    if isinstance(value, str):
        return _truncate(value, limit)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return None
    return _truncate(text, limit)


__all__ = ["PREVIEW_MAX_LENGTH", "input_preview"]
