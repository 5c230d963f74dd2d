"""The event contract: the one package both the edge and the collector import (and nothing else they share).

* :mod:`contract.events`: the schema version, the :class:`~contract.events.Record` every producer emits, the
  :class:`~contract.events.Event` envelope built from it (``Event.from_record``), the kinds, and schema checks;
* :mod:`contract.topics`: topic builders and parsers (events, retained status, collector receipts) and the
  collector's subscription filters;
* :mod:`contract.messages`: the retained status and receipt payloads;
* :mod:`contract.commands`: commands to one device, its replies, and the signed manifests they carry;
* :mod:`contract.signing`: ed25519 signatures over canonical JSON (imported on its own: it needs ``cryptography``);
* ``contract/schemas/``: the JSON Schema files (``event``, ``<kind>``, ``status``, ``receipt``, ``command``,
  ``reply``, ``manifest``).

See ``docs/events.md``.
"""

from contract.events import SCHEMA_VERSION, Event, Record, format_ts, kinds, load_schema, utc_now, validate
from contract.messages import parse_receipt, receipt_payload, status_payload
from contract.topics import TOPIC_PREFIX, event_topic, is_receipt_topic, is_status_topic, receipt_topic, status_topic

__all__ = [
    "SCHEMA_VERSION", "TOPIC_PREFIX", "Event", "Record", "event_topic", "format_ts", "is_receipt_topic",
    "is_status_topic", "kinds", "load_schema", "parse_receipt", "receipt_payload", "receipt_topic", "status_payload",
    "status_topic", "utc_now", "validate",
]
