"""MQTT topics, built and parsed in one place (``docs/events.md``, Topics).

```
<prefix>/<store>/<device>/<kind with dots as slashes>      events, QoS 1, not retained
<prefix>/<store>/<device>/status                           device status, QoS 1, retained
<prefix>/<store>/<device>/receipt                          collector receipt, QoS 1, retained (collector -> edge)
<prefix>/<store>/<device>/command                          commands, QoS 1, not retained (collector -> edge)
<prefix>/<store>/<device>/reply                            command replies, QoS 1, not retained (edge -> collector)
```

Status, receipt, command and reply topics have exactly one level after the device; event topics at least two
(``queue/status`` is an event). With broker ACLs a device subscribes to its own ``command`` topic and publishes
on its own ``reply`` topic (the response topic a command names must be that one to pass the ACL).
"""

from __future__ import annotations

TOPIC_PREFIX = "smartstore/v1"
STATUS, RECEIPT, COMMAND, REPLY = "status", "receipt", "command", "reply"


def check_prefix(prefix: str) -> str:
    """``prefix`` unchanged, or ``ValueError`` when it cannot prefix a topic (empty, wildcards, outer ``/``)."""
    if not prefix or prefix.startswith("/") or prefix.endswith("/") or any(c in prefix for c in "+#"):
        raise ValueError("must be a non-empty topic without wildcards or leading/trailing '/'")
    return prefix


def event_topic(store: str, device: str, kind: str, prefix: str = TOPIC_PREFIX) -> str:
    """``<prefix>/<store>/<device>/<kind with dots as slashes>``, e.g. ``.../footfall/crossing``."""
    return f"{prefix}/{store}/{device}/{kind.replace('.', '/')}"


def status_topic(store: str, device: str, prefix: str = TOPIC_PREFIX) -> str:
    """Retained ``online``/``offline`` device status (the MQTT last will goes here)."""
    return f"{prefix}/{store}/{device}/{STATUS}"


def receipt_topic(store: str, device: str, prefix: str = TOPIC_PREFIX) -> str:
    """Retained collector receipt for one device: the highest contiguous ``seq`` the collector has committed."""
    return f"{prefix}/{store}/{device}/{RECEIPT}"


def command_topic(store: str, device: str, prefix: str = TOPIC_PREFIX) -> str:
    """Where one device hears its commands (MQTT 5 request/response; ``docs/events.md``, Commands)."""
    return f"{prefix}/{store}/{device}/{COMMAND}"


def reply_topic(store: str, device: str, prefix: str = TOPIC_PREFIX) -> str:
    """The response topic a command to this device names: the device publishes its replies here."""
    return f"{prefix}/{store}/{device}/{REPLY}"


def device_leaf(topic: str, prefix: str = TOPIC_PREFIX) -> str | None:
    """The one level after ``<prefix>/<store>/<device>/`` (``status``, ``receipt``); None for any other shape."""
    rest = topic[len(prefix) + 1:] if topic.startswith(prefix + "/") else ""
    parts = rest.split("/")
    return parts[2] if len(parts) == 3 else None


def is_status_topic(topic: str, prefix: str = TOPIC_PREFIX) -> bool:
    """``<prefix>/<store>/<device>/status`` (event topics have at least two levels after the device)."""
    return device_leaf(topic, prefix) == STATUS


def is_receipt_topic(topic: str, prefix: str = TOPIC_PREFIX) -> bool:
    """``<prefix>/<store>/<device>/receipt``: the collectors' own receipts, which the shared subscription sees."""
    return device_leaf(topic, prefix) == RECEIPT


def is_command_topic(topic: str, prefix: str = TOPIC_PREFIX) -> bool:
    """``<prefix>/<store>/<device>/command``: commands to a device, which a collector's ``<prefix>/#`` sees."""
    return device_leaf(topic, prefix) == COMMAND


def is_reply_topic(topic: str, prefix: str = TOPIC_PREFIX) -> bool:
    """``<prefix>/<store>/<device>/reply``: a device's replies to commands (not events)."""
    return device_leaf(topic, prefix) == REPLY


def topic_device(topic: str, prefix: str = TOPIC_PREFIX) -> tuple[str, str] | None:
    """``(store, device)`` of any ``<prefix>/<store>/<device>/...`` topic; None for another prefix or shape."""
    rest = topic[len(prefix) + 1:] if topic.startswith(prefix + "/") else ""
    parts = rest.split("/")
    return (parts[0], parts[1]) if len(parts) >= 3 and parts[0] and parts[1] else None


def every_reply(prefix: str = TOPIC_PREFIX) -> str:
    """The filter for every device's command replies: ``<prefix>/+/+/reply``."""
    return f"{prefix}/+/+/{REPLY}"


def everything(prefix: str = TOPIC_PREFIX) -> str:
    """The filter for every message of every store and device: ``<prefix>/#``."""
    return f"{prefix}/#"


def every_status(prefix: str = TOPIC_PREFIX) -> str:
    """The filter for every device's retained status: ``<prefix>/+/+/status``."""
    return f"{prefix}/+/+/{STATUS}"


def shared(group: str, topic_filter: str) -> str:
    """``topic_filter`` as an MQTT 5 shared subscription of ``group``: ``$share/<group>/<filter>``."""
    return f"$share/{group}/{topic_filter}"
