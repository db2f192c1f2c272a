"""Chat messages from the three ways OTel instrumentations record them, in one shape.

Sources, newest first:

* GenAI semantic conventions (current): ``gen_ai.input.messages``,
  ``gen_ai.output.messages`` and ``gen_ai.system_instructions``, JSON strings (or
  structured values) of ``{"role", "parts": [{"type": "text", "content"}, {"type":
  "tool_call", "id", "name", "arguments"}, {"type": "tool_call_response", "id",
  "response"}, ...]}``;
* GenAI 1.36 and older: per-message span events ``gen_ai.{system,user,assistant,tool}.message``
  and ``gen_ai.choice``, and the deprecated ``gen_ai.prompt``/``gen_ai.completion``;
* flattened attributes: OpenInference ``llm.input_messages.N.message.*`` and
  OpenLLMetry ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``.

They become the messages Mastra's model spans hold (the AI SDK's ``ModelMessage``):
``{"role", "content"}`` where ``content`` is the text when a message is one text part,
else a list of parts ``{"type": "text", "text"}``, ``{"type": "tool-call", "toolCallId",
"toolName", "input"}``, ``{"type": "tool-result", "toolCallId", "toolName"?, "output"}``,
``{"type": "reasoning", "text"}`` (any other part is kept as it came).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .data import plain

Message = dict[str, Any]


def parse_json(value: Any) -> Any:
    """A JSON-looking string decoded; anything else (or invalid JSON) as it is."""
    if isinstance(value, str):
        text = value.lstrip()
        if text[:1] in ("{", "[") or text in ("null", "true", "false"):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return plain(value)


def loads_value(value: Any) -> Any:
    """A value that may be JSON text (``input.value``, tool arguments): decoded when it is."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[", '"') or text in ("null", "true", "false"):
            try:
                return json.loads(text)
            except ValueError:
                return value
        return value
    return plain(value)


# ---------------------------------------------------------------------------- parts
def _part(raw: Any) -> Any:
    """One GenAI message part in the AI SDK's part shape."""
    if not isinstance(raw, Mapping):
        return {"type": "text", "text": raw} if isinstance(raw, str) else raw
    kind = raw.get("type")
    if kind == "text":
        return {"type": "text", "text": raw.get("content", raw.get("text"))}
    if kind == "reasoning":
        return {"type": "reasoning", "text": raw.get("content", raw.get("text"))}
    if kind in ("tool_call", "server_tool_call"):
        part = {"type": "tool-call", "toolCallId": raw.get("id"), "toolName": raw.get("name"),
                "input": loads_value(raw.get("arguments"))}
        if kind == "server_tool_call":
            part["providerExecuted"] = True
        return part
    if kind in ("tool_call_response", "server_tool_call_response"):
        part = {"type": "tool-result", "toolCallId": raw.get("id"),
                "output": loads_value(raw.get("response", raw.get("result")))}
        if raw.get("name") is not None:
            part["toolName"] = raw.get("name")
        return part
    return dict(raw)


def _content(parts: list[Any]) -> Any:
    if len(parts) == 1 and isinstance(parts[0], dict) and parts[0].get("type") == "text":
        return parts[0].get("text")
    return parts


def genai_messages(value: Any) -> list[Message] | None:
    """``gen_ai.input.messages`` / ``gen_ai.output.messages`` (text or structured)."""
    data = parse_json(value)
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        return None
    out: list[Message] = []
    for raw in data:
        if not isinstance(raw, Mapping):
            out.append({"role": "user", "content": raw})
            continue
        parts = raw.get("parts")
        if isinstance(parts, list):
            content: Any = _content([_part(p) for p in parts])
        else:
            content = raw.get("content")
        msg: Message = {"role": raw.get("role"), "content": content}
        for key in ("name", "finish_reason"):
            if raw.get(key) is not None:
                msg["finishReason" if key == "finish_reason" else key] = raw[key]
        out.append(msg)
    return out


def system_instructions(value: Any) -> Message | None:
    """``gen_ai.system_instructions`` (a list of parts, or text) as one system message."""
    data = parse_json(value)
    if data is None or data == [] or data == "":
        return None
    if isinstance(data, list):
        return {"role": "system", "content": _content([_part(p) for p in data])}
    return {"role": "system", "content": data}


# ---------------------------------------------------------------------------- flattened
def collect_indexed(attrs: dict[str, Any], prefix: str) -> list[Any] | None:
    """Pop every ``prefix<N>.<path>`` attribute; return the items as nested dicts by N.

    ``llm.input_messages.0.message.role`` with prefix ``llm.input_messages.`` gives
    ``[{"message": {"role": ...}}]``. Keys whose next segment is not an index (e.g.
    ``gen_ai.prompt.name``) are left alone.
    """
    found: list[tuple[str, Any]] = []
    n = len(prefix)
    for key in list(attrs):
        if key.startswith(prefix) and key[n:n + 1].isdigit():
            found.append((key[n:], attrs.pop(key)))
    if not found:
        return None
    tree = unflatten(found)
    return tree if isinstance(tree, list) else [tree]


def unflatten(items: Iterable[tuple[str, Any]]) -> Any:
    root: dict[str, Any] = {}
    for path, value in items:
        node = root
        segments = path.split(".")
        for seg in segments[:-1]:
            child = node.get(seg)
            if not isinstance(child, dict):
                child = node[seg] = {} if child is None else {"": child}
            node = child
        last = segments[-1]
        if isinstance(node.get(last), dict):
            node[last][""] = plain(value)
        else:
            node[last] = plain(value)
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def openinference_messages(items: list[Any]) -> list[Message]:
    """OpenInference ``llm.{input,output}_messages.N.message.*`` (already collected)."""
    out: list[Message] = []
    for item in items:
        m = _get(item, "message") or {}
        parts: list[Any] = []
        contents = m.get("contents")
        if isinstance(contents, list):
            for c in contents:
                mc = _get(c, "message_content") or {}
                if mc.get("type", "text") == "text" and "text" in mc:
                    parts.append({"type": "text", "text": mc.get("text")})
                else:
                    parts.append(mc)
        elif m.get("content") is not None:
            parts.append({"type": "text", "text": m.get("content")})
        for call in m.get("tool_calls") or []:
            tc = _get(call, "tool_call") or {}
            parts.append({"type": "tool-call", "toolCallId": tc.get("id"),
                          "toolName": _get(tc, "function", "name"),
                          "input": loads_value(_get(tc, "function", "arguments"))})
        if m.get("function_call_name") is not None:
            parts.append({"type": "tool-call", "toolCallId": None,
                          "toolName": m.get("function_call_name"),
                          "input": loads_value(m.get("function_call_arguments_json"))})
        role = m.get("role")
        if role == "tool" and m.get("tool_call_id") is not None:
            text = _content(parts) if parts else None
            parts = [{"type": "tool-result", "toolCallId": m.get("tool_call_id"),
                      "output": loads_value(text) if isinstance(text, str) else text}]
            if m.get("name") is not None:
                parts[0]["toolName"] = m.get("name")
        msg: Message = {"role": role, "content": _content(parts) if parts else ""}
        if m.get("name") is not None and role != "tool":
            msg["name"] = m.get("name")
        out.append(msg)
    return out


def openllmetry_messages(items: list[Any]) -> list[Message]:
    """OpenLLMetry ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` (already collected)."""
    out: list[Message] = []
    for m in items:
        if not isinstance(m, dict):
            continue
        parts: list[Any] = []
        content = m.get("content")
        if content is not None:
            decoded = loads_value(content) if isinstance(content, str) else content
            if isinstance(decoded, list):  # content given as a list of parts
                parts.extend(_part(p) for p in decoded)
            else:
                parts.append({"type": "text", "text": content})
        for tc in m.get("tool_calls") or []:
            if isinstance(tc, dict):
                parts.append({"type": "tool-call", "toolCallId": tc.get("id"),
                              "toolName": tc.get("name"),
                              "input": loads_value(tc.get("arguments"))})
        fc = m.get("function_call")
        if isinstance(fc, dict):
            parts.append({"type": "tool-call", "toolCallId": None, "toolName": fc.get("name"),
                          "input": loads_value(fc.get("arguments"))})
        role = m.get("role")
        if role == "tool" and m.get("tool_call_id") is not None:
            text = _content(parts) if parts else None
            parts = [{"type": "tool-result", "toolCallId": m.get("tool_call_id"),
                      "output": loads_value(text) if isinstance(text, str) else text}]
        msg: Message = {"role": role, "content": _content(parts) if parts else ""}
        if m.get("finish_reason") is not None:
            msg["finishReason"] = m.get("finish_reason")
        out.append(msg)
    return out


# ---------------------------------------------------------------------------- legacy events
LEGACY_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"


def _openai_style(body: Mapping[str, Any], role: str | None) -> Message:
    """A 1.36 event body: ``{"content", "tool_calls": [{"id", "function": {...}}], "id"}``."""
    parts: list[Any] = []
    content = loads_value(body.get("content")) if isinstance(body.get("content"), str) \
        else plain(body.get("content"))
    if role == "tool":
        return {"role": "tool", "content": [{"type": "tool-result", "toolCallId": body.get("id"),
                                             "output": content}]}
    if isinstance(content, list):
        parts.extend(_part(p) for p in content)
    elif content is not None:
        parts.append({"type": "text", "text": body.get("content")})
    calls = parse_json(body.get("tool_calls"))
    for tc in calls if isinstance(calls, list) else ():
        if isinstance(tc, Mapping):
            fn = tc.get("function") or {}
            parts.append({"type": "tool-call", "toolCallId": tc.get("id"),
                          "toolName": fn.get("name") if isinstance(fn, Mapping) else None,
                          "input": loads_value(fn.get("arguments"))
                          if isinstance(fn, Mapping) else None})
    return {"role": role, "content": _content(parts) if parts else ""}


def _event_body(attrs: Mapping[str, Any]) -> dict[str, Any]:
    body = parse_json(attrs.get("gen_ai.event.content"))
    if isinstance(body, dict):
        return body
    return {k: v for k, v in attrs.items() if not k.startswith("gen_ai.")}


def legacy_event_messages(events: Iterable[Any]) -> tuple[list[Message], list[Message], list[int]]:
    """Input and output messages from 1.36-style span events, and the indexes consumed."""
    inputs: list[Message] = []
    outputs: list[tuple[int, Message]] = []
    used: list[int] = []
    for i, ev in enumerate(events):
        role = LEGACY_MESSAGE_EVENTS.get(ev.name)
        if role is not None:
            body = _event_body(ev.attributes)
            inputs.append(_openai_style(body, body.get("role", role)))
            used.append(i)
        elif ev.name == CHOICE_EVENT:
            body = _event_body(ev.attributes)
            message = parse_json(body.get("message"))
            msg = _openai_style(message if isinstance(message, Mapping) else {},
                                (message or {}).get("role", "assistant")
                                if isinstance(message, Mapping) else "assistant")
            if body.get("finish_reason") is not None:
                msg["finishReason"] = body.get("finish_reason")
            index = body.get("index", len(outputs))
            outputs.append((index if isinstance(index, int) else len(outputs), msg))
            used.append(i)
    outputs.sort(key=lambda pair: pair[0])
    return inputs, [m for _, m in outputs], used


# ---------------------------------------------------------------------------- results
def completion_output(messages: list[Message]) -> dict[str, Any]:
    """A model span's output (Mastra's ``ModelGenerationResult``) from the output messages.

    ``text``/``toolCalls``/``reasoningText`` come from the first choice; when there are
    several, all of them are kept under ``choices``.
    """
    first = messages[0] if messages else {}
    content = first.get("content")
    out: dict[str, Any] = {}
    if isinstance(content, str):
        out["text"] = content
    elif isinstance(content, list):
        texts = [p.get("text") for p in content
                 if isinstance(p, dict) and p.get("type") == "text" and p.get("text") is not None]
        reasoning = [p.get("text") for p in content
                     if isinstance(p, dict) and p.get("type") == "reasoning"]
        calls = [p for p in content if isinstance(p, dict) and p.get("type") == "tool-call"]
        if texts or not calls:
            out["text"] = "".join(str(t) for t in texts)
        if reasoning:
            out["reasoningText"] = "".join(str(t) for t in reasoning if t is not None)
        if calls:
            out["toolCalls"] = calls
        others = [p for p in content if not (isinstance(p, dict) and p.get("type") in
                                             ("text", "reasoning", "tool-call"))]
        if others:
            out["parts"] = others
    elif content is not None:
        out["text"] = content
    if len(messages) > 1:
        out["choices"] = messages
    return out


def first_text(messages: list[Message]) -> Any:
    return completion_output(messages).get("text") if messages else None


__all__ = [
    "CHOICE_EVENT", "LEGACY_MESSAGE_EVENTS", "collect_indexed", "completion_output",
    "genai_messages", "legacy_event_messages", "loads_value", "openinference_messages",
    "openllmetry_messages", "parse_json", "system_instructions", "unflatten",
]
