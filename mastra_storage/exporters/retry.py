"""How long to wait before the next attempt of a failed write or upload.

One policy object for both exporters: exponential backoff from ``base``, capped at
``cap``, optionally jittered, with a server's hint (``Retry-After``) taking precedence up
to ``hint_cap``. It computes delays only; the waiting is the batch worker's (abortable,
and replaceable in tests).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


class Retry(Exception):
    """Raised by an attempt that failed in a way worth trying again.

    ``outage``: the destination is unreachable (not refusing this batch): the batch is
    kept and retried for as long as it takes, except during shutdown.
    """

    def __init__(self, problem: str, after: float | None = None, outage: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.after = after  # a server's hint, in seconds
        self.outage = outage


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # attempts in all (1 = no retry)
    base: float  # seconds before the second attempt
    cap: float = math.inf  # longest computed wait
    jitter: float = 0.0  # each wait is scaled by uniform(1 - jitter, 1 + jitter)
    hint_cap: float = math.inf  # longest wait a server's hint may ask for
    # During an outage, once ``attempts`` are used up, every later wait is this long.
    outage_delay: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based); past the
        policy's attempts (an outage), :attr:`outage_delay`."""
        if attempt + 1 >= self.attempts and hint is None:
            return self.outage_delay
        if hint is not None:
            return min(max(hint, 0.0), self.hint_cap)
        wait: float = min(self.cap, self.base * (2 ** attempt))
        if self.jitter:
            wait *= self.rng.uniform(1 - self.jitter, 1 + self.jitter)
        return wait


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN → ignore
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


__all__ = ["Retry", "RetryPolicy", "parse_retry_after"]
