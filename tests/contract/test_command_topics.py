"""Command and reply topics: one level after the device, never mistaken for an event, status or receipt."""

from __future__ import annotations

from contract import topics


def test_command_and_reply_topics() -> None:
    assert topics.command_topic("s1", "d1") == "smartstore/v1/s1/d1/command"
    assert topics.reply_topic("s1", "d1", "acme/v1") == "acme/v1/s1/d1/reply"
    assert topics.is_command_topic(topics.command_topic("s1", "d1"))
    assert not topics.is_command_topic(topics.reply_topic("s1", "d1"))
    assert topics.is_reply_topic(topics.reply_topic("s1", "d1", "acme/v1"), "acme/v1")
    assert not topics.is_reply_topic(topics.reply_topic("s1", "d1", "acme/v1"))  # another prefix
    for topic in (topics.command_topic("s1", "d1"), topics.reply_topic("s1", "d1")):
        assert not topics.is_status_topic(topic) and not topics.is_receipt_topic(topic)
    assert not topics.is_command_topic(topics.event_topic("s1", "d1", "device.command"))  # an event shape: two levels
    assert topics.every_reply() == "smartstore/v1/+/+/reply"


def test_topic_device() -> None:
    assert topics.topic_device(topics.command_topic("s1", "d1")) == ("s1", "d1")
    assert topics.topic_device(topics.event_topic("s1", "d1", "zone.visit")) == ("s1", "d1")
    assert topics.topic_device("smartstore/v1/s1") is None and topics.topic_device("other/s1/d1/command") is None
