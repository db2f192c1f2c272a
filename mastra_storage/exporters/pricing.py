"""Model prices, for the estimated cost of the token metrics derived from model spans.

A small built-in table of list prices (``data/prices.json``, USD per token) covers the
common OpenAI, Anthropic, Google and Mistral models so costs appear without any setup.
Replace it with your own table (same JSON shape) through ``DefaultExporter(prices=...)``
or the ``MASTRA_STORAGE_PRICES`` environment variable (a file path); ``prices=False``
turns cost estimation off.

Lookup normalises what providers and SDKs report: the provider is lower-cased and cut
at its first ``.`` (``openai.chat`` → ``openai``) with a few aliases (Azure OpenAI →
openai, Vertex → google); the model is tried as reported, without a vendor prefix
(``openai/gpt-4o``), with dots as dashes (``claude-3.5-sonnet``), and without a date or
version suffix (``-2024-08-06``, ``-20241022``, ``@20240620``, ``-v1:0``, ``-latest``).
Matching is exact on one of these forms: an unknown model gets no cost (recorded as
``{"error": "no_matching_model"}`` in the metric's ``costMetadata``), never a guess.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PRICES = "MASTRA_STORAGE_PRICES"
BUILTIN = Path(__file__).with_name("data") / "prices.json"
_PROVIDER_ALIASES = {"azure": "openai", "azure-openai": "openai", "vertex": "google",
                     "google-vertex": "google", "gemini": "google", "mistralai": "mistral"}
_LOOKUP_CACHE = 1024  # distinct (provider, model) answers remembered
_DATE_SUFFIX = re.compile(r"(@\d{8}|-\d{4}-\d{2}-\d{2}|-\d{8}|-v\d+(:\d+)?|-latest)$")


@dataclass(frozen=True)
class Price:
    """USD (or ``unit``) per token for each kind of token."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    unit: str = "USD"
    model: str = ""


def _model_forms(model: str) -> list[str]:
    base = model.strip().lower()
    forms = [base]
    if "/" in base:
        forms.append(base.rsplit("/", 1)[1])
    for form in list(forms):
        # Bedrock ids: "[geography.]vendor.model" ("us.anthropic.claude-…")
        while "." in form and form.split(".", 1)[0].isalpha():
            form = form.split(".", 1)[1]
            forms.append(form)
    for form in list(forms):
        forms.append(form.replace(".", "-"))
    for form in list(forms):
        stripped = form
        while True:
            shorter = _DATE_SUFFIX.sub("", stripped)
            if shorter == stripped:
                break
            stripped = shorter
        forms.append(stripped)
    return list(dict.fromkeys(f for f in forms if f))


def _provider_forms(provider: str) -> list[str]:
    base = provider.strip().lower()
    forms = [base, base.split(".", 1)[0]]
    forms += [_PROVIDER_ALIASES[f] for f in list(forms) if f in _PROVIDER_ALIASES]
    return list(dict.fromkeys(forms))


class PriceTable:
    """Prices by (provider, model); see the module docstring for the matching rules."""

    def __init__(self, entries: list[dict[str, Any]], unit: str = "USD",
                 source: str = "custom") -> None:
        self.source = source
        self._prices: dict[tuple[str, str], Price] = {}
        for entry in entries:
            try:
                provider = str(entry["provider"]).strip().lower()
                model = str(entry["model"]).strip().lower()
                price = Price(float(entry["input"]), float(entry["output"]),
                              _optional(entry.get("cacheRead")),
                              _optional(entry.get("cacheWrite")),
                              str(entry.get("unit", unit)), model)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"invalid price table entry {entry!r}: {exc}") from None
            self._prices[(provider, model)] = price
        # Answers of lookup(), per (provider, model) as reported: a model span's lookup
        # runs on the exporter's worker for every ended generation, and the normalisation
        # (regexes, several forms) costs more than the rest of its metrics together.
        self._found: dict[tuple[str, str], Price | None] = {}

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            raise ValueError(f"{path}: a price table is an object with a 'models' list")
        return cls(data["models"], str(data.get("unit", "USD")),
                   "builtin" if Path(path) == BUILTIN else str(path))

    @classmethod
    def default(cls) -> PriceTable:
        """``MASTRA_STORAGE_PRICES`` if set, else the built-in table."""
        return cls.load(os.environ.get(ENV_PRICES) or BUILTIN)

    def __len__(self) -> int:
        return len(self._prices)

    def lookup(self, provider: str | None, model: str | None) -> Price | None:
        if not provider or not model:
            return None
        key = (provider, model)
        try:
            return self._found[key]
        except KeyError:
            pass
        price = self._lookup(provider, model)
        if len(self._found) >= _LOOKUP_CACHE:  # bounded: model names come from the app
            self._found.clear()
        self._found[key] = price
        return price

    def _lookup(self, provider: str, model: str) -> Price | None:
        providers = _provider_forms(provider)
        vendor = re.match(r"^(?:[a-z]+\.)?([a-z]+)[./]", model.strip().lower())
        if vendor:  # "anthropic.claude-…" on Bedrock, "openai/gpt-4o" through a gateway
            providers.append(vendor.group(1))
        for p in providers:
            for m in _model_forms(model):
                price = self._prices.get((p, m))
                if price is not None:
                    return price
        return None


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


__all__ = ["BUILTIN", "ENV_PRICES", "Price", "PriceTable"]
