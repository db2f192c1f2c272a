"""OTLP/HTTP in: ``POST /v1/traces`` turns any OpenTelemetry exporter's spans into Mastra
spans in the store the server reads.

Bodies are OTLP protobuf (``application/x-protobuf``) or OTLP/JSON (``application/json``),
plain or gzip-compressed, at most :data:`MAX_BODY` bytes on the wire and
:data:`MAX_DECOMPRESSED` once inflated (a small compressed body can't blow up memory).
Converted spans go through a :class:`~mastra_storage.exporters.default.DefaultExporter`
owned by the server, so they are batched, retried while the store is unreachable and
counted when dropped, like the spans of any app. Spans with invalid ids are skipped and
reported to the sender as OTLP's ``partialSuccess.rejectedSpans``.

Answers follow OTLP/HTTP: 200 with an (empty) ``ExportTraceServiceResponse`` in the
request's encoding; 400 for a body that can't be decoded; 413 too large; 415 another
content type.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..tracing.events import TracingEvent, TracingEventType

logger = logging.getLogger("mastra_storage.server")

MAX_BODY = 16 * 1024 * 1024
MAX_DECOMPRESSED = 64 * 1024 * 1024
PROTOBUF = "application/x-protobuf"


class Ingest:
    """The server's own exporter for OTLP spans (built on first use, shut down with the
    app)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.exporter: Any = None
        self.rejected = 0

    def export(self, records: list[Any], scores: list[Any]) -> None:
        if self.exporter is None:
            from ..exporters.default import DefaultExporter

            exporter = DefaultExporter()
            exporter.bind(self.store)
            self.exporter = exporter
        for record in records:
            self.exporter.export(TracingEvent(TracingEventType.SPAN_ENDED, record))
        for score in scores:
            self.exporter.export(score)

    def shutdown(self) -> None:
        if self.exporter is not None:
            self.exporter.shutdown()


def _error(status: int, message: str) -> Response:
    return JSONResponse({"code": status, "message": message}, status_code=status)


def _inflate(raw: bytes, encoding: str) -> bytes | None:
    """The body without its content encoding; None when it inflates past the limit."""
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(raw, MAX_DECOMPRESSED + 1)
    if len(out) > MAX_DECOMPRESSED or inflater.unconsumed_tail:
        return None
    return out


def _decode(body: bytes, content_type: str) -> Any:
    if content_type == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        return message
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("an OTLP/JSON body is an object")
    return data


def _response(content_type: str, rejected: int, message: str) -> Response:
    if content_type == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        reply = ExportTraceServiceResponse()
        if rejected:
            reply.partial_success.rejected_spans = rejected
            reply.partial_success.error_message = message
        return Response(reply.SerializeToString(), media_type=PROTOBUF)
    body: dict[str, Any] = {}
    if rejected:
        body["partialSuccess"] = {"rejectedSpans": rejected, "errorMessage": message}
    return JSONResponse(body)


def routes(ingest: Ingest) -> list[BaseRoute]:
    from starlette.concurrency import run_in_threadpool

    from ..otel.otlp import ConversionStats, convert_resource_spans

    async def traces(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, "application/json"):
            return _error(415, f"Unsupported content type {content_type or '(none)'}; send "
                          f"{PROTOBUF} or application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return _error(413, "Request body too large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return _error(413, "Request body too large")
            chunks.append(chunk)
        try:
            body = _inflate(b"".join(chunks),
                            request.headers.get("content-encoding", "").strip().lower())
        except (ValueError, zlib.error, gzip.BadGzipFile) as exc:
            return _error(400, f"Invalid body encoding: {exc}")
        if body is None:
            return _error(413, "Request body too large once decompressed")
        try:
            data = _decode(body, content_type)
        except Exception as exc:  # a malformed body from any sender: 400, never a 500
            kind = "protobuf" if content_type == PROTOBUF else "JSON"
            return _error(400, f"Invalid OTLP {kind} body: {type(exc).__name__}")

        def convert() -> tuple[int, str]:
            stats = ConversionStats()
            records, scores = [], []
            for converted in convert_resource_spans(data, stats=stats):
                records.append(converted.record)
                scores.extend(converted.scores)
            ingest.export(records, scores)
            rejected = stats.skipped_total
            ingest.rejected += rejected
            reasons = ", ".join(f"{n} {reason}" for reason, n in stats.skipped.items())
            return rejected, (f"skipped spans: {reasons}" if rejected else "")

        rejected, message = await run_in_threadpool(convert)
        return _response(content_type, rejected, message)

    return [Route("/v1/traces", traces, methods=["POST"])]


__all__ = ["MAX_BODY", "Ingest", "routes"]
