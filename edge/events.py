"""Compatibility re-exports: the event contract lives in the top-level :mod:`contract` package.

Kept only for the tools outside the runtime that still import ``edge.events`` (``bench/``, the bench and demo
modules); the runtime and the tests import :mod:`contract`. Remove once those import ``contract`` too.
"""

from contract.events import SCHEMA_VERSION, Event, Record, format_ts, kinds, load_schema, utc_now, validate
from contract.messages import parse_receipt, receipt_payload, status_payload
from contract.topics import TOPIC_PREFIX, receipt_topic, status_topic

__all__ = [
    "SCHEMA_VERSION", "TOPIC_PREFIX", "Event", "Record", "format_ts", "kinds", "load_schema", "parse_receipt",
    "receipt_payload", "receipt_topic", "status_payload", "status_topic", "utc_now", "validate",
]
