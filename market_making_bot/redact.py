"""Keeping signatures out of logs: one logging filter shared by the listener and the simulator.

A leaf module (it imports only the standard library), so the simulator and the client can both use it
without importing each other.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACT_SIGNATURE", "RedactSignature", "redacted_logger"]


class RedactSignature(logging.Filter):
    """Replaces the value of a ``KALSHI-ACCESS-SIGNATURE`` header in a log record by ``[redacted]``.

    websockets logs every handshake header at DEBUG (``> KALSHI-ACCESS-SIGNATURE: ...`` on the client,
    ``< KALSHI-ACCESS-SIGNATURE: ...`` on the server); a signature is a credential for its time window, so it
    never reaches a log. Attached to the loggers we hand to websockets (``connect(logger=...)``,
    ``serve(logger=...)``) and to our own; only records that mention a signature are rewritten (the check is one
    substring search per record).
    """

    _PATTERN = re.compile(r"(?i)(kalshi-access-signature['\"]?\s*[:=,]\s*['\"]?)[^\s'\",}\]]+")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "signature" in text.lower():
            redacted = self._PATTERN.sub(r"\1[redacted]", text)
            if redacted != text:
                record.msg, record.args = redacted, None
        return True


REDACT_SIGNATURE = RedactSignature()


def redacted_logger(name: str) -> logging.Logger:
    """The logger ``name`` with :data:`REDACT_SIGNATURE` attached (idempotent: always the same filter object).

    A logger's filters apply to the records made on that logger itself, which is how websockets uses the logger
    it is given; so it is the logger to pass to ``connect``/``serve``, not a parent of it."""
    logger = logging.getLogger(name)
    logger.addFilter(REDACT_SIGNATURE)
    return logger
