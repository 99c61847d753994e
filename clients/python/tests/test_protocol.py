"""Codec tests: byte layouts written by hand from docs/PROTOCOL.md, round trips, and the
§7 error code for each kind of bad input. No broker needed."""

from __future__ import annotations

import struct

import pytest

from sluice_client import protocol as p
from sluice_client.protocol import Direction as D
from sluice_client.protocol import ErrorCode as E

SIG = b"SLU\x01"


def s8(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def s16(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def u16(v: int) -> bytes:
    return struct.pack(">H", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


HEADER = p.RoutingHeader("act-1", "guest", "guest/pkg/hello", "3-abc", 256, 60000, p.FLAG_BLOCKING,
                         "inv0", "ctl0", ("gpu", "x86"), 1500)
HEADER_BYTES = (s8("act-1") + s8("guest") + s16("guest/pkg/hello") + s8("3-abc") + u32(256) + u32(60000)
                + b"\x01" + s8("inv0") + s8("ctl0") + b"\x02" + s8("gpu") + s8("x86") + u32(1500))


def test_routing_header_layout():
    assert p.encode_routing_header(HEADER) == HEADER_BYTES
    assert p.decode_routing_header(HEADER_BYTES) == HEADER


@pytest.mark.parametrize("msg, frames, direction", [
    (p.ControllerHello("ctl0"), [SIG, b"\x01", s8("ctl0")], D.CONTROLLER_TO_BROKER),
    (p.InvokerHello("inv0", 2048, 16, ("gpu",), ("ns1", "ns2")),
     [SIG, b"\x01", s8("inv0") + u32(2048) + u32(16) + b"\x01" + s8("gpu") + b"\x02" + s8("ns1") + s8("ns2")],
     D.INVOKER_TO_BROKER),
    (p.Welcome("sluice", 1000, 2 * 1024 * 1024), [SIG, b"\x02", s8("sluice") + u32(1000) + u32(2097152)],
     D.BROKER_TO_INVOKER),
    (p.Heartbeat(), [SIG, b"\x03"], D.BROKER_TO_CONTROLLER),
    (p.Heartbeat((p.WarmEntry("guest/a", 1, 3),)),
     [SIG, b"\x03", u16(1) + s16("guest/a") + u16(1) + u16(3)], D.INVOKER_TO_BROKER),
    (p.Heartbeat(()), [SIG, b"\x03", u16(0)], D.INVOKER_TO_BROKER),
    (p.Goodbye(), [SIG, b"\x04"], D.CONTROLLER_TO_BROKER),
    (p.Error(7, "a1", "send HELLO"), [SIG, b"\x05", u16(7) + s8("a1") + s16("send HELLO")],
     D.BROKER_TO_CONTROLLER),
    (p.Activate(HEADER, b"{}"), [SIG, b"\x10", HEADER_BYTES, b"{}"], D.CONTROLLER_TO_BROKER),
    (p.Answer("act-1", 0, "inv0", "", b"ok"), [SIG, b"\x11", s8("act-1") + b"\x00" + s8("inv0") + s16(""), b"ok"],
     D.BROKER_TO_CONTROLLER),
    (p.Capacity(0, 0), [SIG, b"\x20", u32(0) + u32(0)], D.INVOKER_TO_BROKER),
    (p.Dispatch(HEADER, b""), [SIG, b"\x21", HEADER_BYTES, b""], D.BROKER_TO_INVOKER),
    (p.Result("act-1", 1, b"err"), [SIG, b"\x22", s8("act-1") + b"\x01", b"err"], D.INVOKER_TO_BROKER),
    (p.Completion("act-1"), [SIG, b"\x23", s8("act-1") + b"\x00\x00"], D.INVOKER_TO_BROKER),
    (p.Completion("act-1", 2, b"boom", system_error=True),
     [SIG, b"\x23", s8("act-1") + b"\x03\x02", b"boom"], D.INVOKER_TO_BROKER),
    (p.Completion("act-1", 0, b"r", warm_report=(p.WarmEntry("guest/a", 0, 1),)),
     [SIG, b"\x23", s8("act-1") + b"\x05\x00", b"r", u16(1) + s16("guest/a") + u16(0) + u16(1)],
     D.INVOKER_TO_BROKER),
    (p.Completion("act-1", system_error=True, warm_report=()),
     [SIG, b"\x23", s8("act-1") + b"\x06\x00", u16(0)], D.INVOKER_TO_BROKER),
])
def test_layout_and_round_trip(msg, frames, direction):
    assert p.encode(msg) == frames
    assert p.decode(frames, direction) == msg


def code_of(frames, direction) -> int:
    with pytest.raises(p.ProtocolError) as info:
        p.decode(frames, direction)
    return info.value.code


def header_with(**kw) -> bytes:
    """A valid header's bytes with one field's raw bytes swapped in."""
    parts = dict(aid=s8("a1"), ns=s8("guest"), action=s16("guest/x"), rev=s8(""), mem=u32(1), tl=u32(1),
                 flags=b"\x00", target=s8(""), answer_to=s8(""), tags=b"\x00", wait=u32(0))
    parts.update(kw)
    return b"".join(parts.values())


@pytest.mark.parametrize("frames, direction, code", [
    ([b"XYZ\x01", b"\x03"], D.BROKER_TO_CONTROLLER, E.BAD_SIGNATURE),
    ([b"SLU", b"\x03"], D.BROKER_TO_CONTROLLER, E.BAD_SIGNATURE),
    ([b"SLU\x02", b"\x03"], D.BROKER_TO_CONTROLLER, E.BAD_VERSION),
    ([SIG], D.BROKER_TO_CONTROLLER, E.MALFORMED),
    ([SIG, b"\x03\x00"], D.BROKER_TO_CONTROLLER, E.MALFORMED),
    ([SIG, b"\x7f"], D.BROKER_TO_CONTROLLER, E.UNKNOWN_COMMAND),
    ([SIG, b"\x21", HEADER_BYTES, b""], D.BROKER_TO_CONTROLLER, E.UNEXPECTED_COMMAND),
    ([SIG, b"\x10", HEADER_BYTES, b""], D.BROKER_TO_INVOKER, E.UNEXPECTED_COMMAND),
    ([SIG, b"\x03", u16(0)], D.BROKER_TO_CONTROLLER, E.MALFORMED),  # only invokers add a body
    ([SIG, b"\x03", u16(0), u16(0)], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x01", s8("c1") + b"\x00"], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # surplus byte
    ([SIG, b"\x01", b"\x05c1"], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # string runs past the end
    ([SIG, b"\x01", s8("c 1")], D.CONTROLLER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x01", s8("c" * 129)], D.CONTROLLER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x01", b"\x02\xc3\x28"], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # bad UTF-8
    ([SIG, b"\x01", s8("i") + u32(0) + u32(1) + b"\x00\x00"], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x01", s8("i") + u32(1) + u32(1) + b"\x21" + s8("t") * 33 + b"\x00"], D.INVOKER_TO_BROKER,
     E.OVERSIZE),
    ([SIG, b"\x01", s8("i") + u32(1) + u32(1) + b"\x01" + s8("t" * 65) + b"\x00"], D.INVOKER_TO_BROKER,
     E.OVERSIZE),
    ([SIG, b"\x01", s8("i") + u32(1) + u32(1) + b"\x00\x01" + s8("n\x01")], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(flags=b"\x04"), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(mem=u32(0)), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(tl=u32(0)), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(ns=s8("")), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(ns=s8("gu\x7fest")), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(action=s16("")), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(action=s16("a" * 1025)), b""], D.CONTROLLER_TO_BROKER, E.OVERSIZE),
    ([SIG, b"\x10", header_with(target=s8("in v")), b""], D.CONTROLLER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x10", header_with(answer_to=s8("c/1")), b""], D.CONTROLLER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x10", header_with(tags=b"\x01" + s8("")), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with(wait=b"\x00\x00"), b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x10", header_with()], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # no payload frame
    ([SIG, b"\x20", u32(0) + u32(1)], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x22", s8("a1") + b"\x03", b""], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x23", s8("a1") + b"\x08\x00"], D.INVOKER_TO_BROKER, E.MALFORMED),  # reserved bit
    ([SIG, b"\x23", s8("a1") + b"\x00\x01"], D.INVOKER_TO_BROKER, E.MALFORMED),  # outcome without result
    ([SIG, b"\x23", s8("a1") + b"\x01\x00"], D.INVOKER_TO_BROKER, E.MALFORMED),  # result frame missing
    ([SIG, b"\x23", s8("a1") + b"\x00\x00", b"x"], D.INVOKER_TO_BROKER, E.MALFORMED),  # surplus frame
    ([SIG, b"\x23", s8("a1") + b"\x04\x00", u16(1) + s16("a/b") + u16(2) + u16(1)], D.INVOKER_TO_BROKER,
     E.MALFORMED),  # idle > total
    ([SIG, b"\x23", s8("a1") + b"\x04\x00", u16(1) + s16("a/b") + u16(0) + u16(0)], D.INVOKER_TO_BROKER,
     E.MALFORMED),  # total 0
    ([SIG, b"\x03", u16(4097)], D.INVOKER_TO_BROKER, E.OVERSIZE),
])
def test_decode_errors(frames, direction, code):
    assert code_of(frames, direction) == code


def test_errors_name_the_activation_once_its_id_was_read():
    with pytest.raises(p.ProtocolError) as info:
        p.decode([SIG, b"\x10", header_with(flags=b"\x80"), b""], D.CONTROLLER_TO_BROKER)
    assert info.value.activation_id == "a1"
    with pytest.raises(p.ProtocolError) as info:
        p.decode([SIG, b"\x10", s8("a b") + header_with()[3:], b""], D.CONTROLLER_TO_BROKER)
    assert info.value.code == E.INVALID_ID and info.value.activation_id == ""


def test_unknown_answer_kind_is_a_failure():
    frames = [SIG, b"\x11", s8("a1") + b"\x63" + s8("") + s16("new"), b""]
    ans = p.decode(frames, D.BROKER_TO_CONTROLLER)
    assert ans.kind == 99 and not ans.ok and ans.kind_name == "unknown(99)"


@pytest.mark.parametrize("msg", [
    p.ControllerHello(""),
    p.ControllerHello("é"),
    p.InvokerHello("i", 1, 0),
    p.InvokerHello("i", 1, 1, tuple(f"t{n}" for n in range(33))),
    p.InvokerHello("i", 1, 1, (), ("",)),
    p.Activate(p.RoutingHeader("a1", "guest", "guest/x", flags=0x10), b""),
    p.Activate(p.RoutingHeader("a1", "guest", "guest/x", memory_mb=2 ** 32), b""),
    p.Activate(p.RoutingHeader("a1", "guest", "guest/x", required_tags=("t" * 65,)), b""),
    p.Capacity(1, 0),
    p.Result("a1", 3, b""),
    p.Completion("a1", 1),  # outcome without a result frame
    p.Completion("a1", 0, b"", warm_report=(p.WarmEntry("a/b", 2, 1),)),
])
def test_encode_refuses_invalid_messages(msg):
    with pytest.raises(p.ProtocolError):
        p.encode(msg)


# --------------------------------------------------------------------------- broadcast (§4.13, §4.14)
# Golden bytes spelt out by hand from the ABNF: short-string = u8 length + bytes,
# origin-role = u8 (0 controller, 1 invoker), origin = id.

@pytest.mark.parametrize("msg, frames, direction", [
    # subscribe = topic-prefix (short-string)
    (p.Subscribe("cache."), [b"SLU\x01", b"\x30", b"\x06cache."], D.CONTROLLER_TO_BROKER),
    (p.Subscribe(""), [b"SLU\x01", b"\x30", b"\x00"], D.INVOKER_TO_BROKER),  # empty: every topic
    (p.Subscribe("x" * 64), [b"SLU\x01", b"\x30", b"\x40" + b"x" * 64], D.INVOKER_TO_BROKER),
    # unsubscribe = topic-prefix
    (p.Unsubscribe("events"), [b"SLU\x01", b"\x31", b"\x06events"], D.CONTROLLER_TO_BROKER),
    (p.Unsubscribe(""), [b"SLU\x01", b"\x31", b"\x00"], D.INVOKER_TO_BROKER),
    # publish = publish-header-frame payload-frame; publish-header = topic
    (p.Publish("cacheInvalidation", b'{"k":1}'),
     [b"SLU\x01", b"\x32", b"\x11cacheInvalidation", b'{"k":1}'], D.CONTROLLER_TO_BROKER),
    (p.Publish("health", b""), [b"SLU\x01", b"\x32", b"\x06health", b""], D.INVOKER_TO_BROKER),
    (p.Publish("T" * 64, b"\x00\xff"), [b"SLU\x01", b"\x32", b"\x40" + b"T" * 64, b"\x00\xff"],
     D.INVOKER_TO_BROKER),
    # publication-header = topic origin-role origin
    (p.Publication("health", p.OriginRole.INVOKER, "inv0", b"ping"),
     [b"SLU\x01", b"\x32", b"\x06health\x01\x04inv0", b"ping"], D.BROKER_TO_CONTROLLER),
    (p.Publication("cache.a-1", p.OriginRole.CONTROLLER, "ctl_0", b""),
     [b"SLU\x01", b"\x32", b"\x09cache.a-1\x00\x05ctl_0", b""], D.BROKER_TO_INVOKER),
    (p.Publication("e", 1, "i" * 128, b"\x00" * 3),
     [b"SLU\x01", b"\x32", b"\x01e\x01\x80" + b"i" * 128, b"\x00\x00\x00"], D.BROKER_TO_INVOKER),
])
def test_broadcast_layout_and_round_trip(msg, frames, direction):
    assert p.encode(msg) == frames
    assert p.decode(frames, direction) == msg


def test_publish_header_depends_on_direction():
    peer_form = [SIG, b"\x32", s8("t"), b"x"]
    assert p.decode(peer_form, D.CONTROLLER_TO_BROKER) == p.Publish("t", b"x")
    assert p.decode(peer_form, D.INVOKER_TO_BROKER) == p.Publish("t", b"x")
    # From the broker the header must also carry origin-role and origin.
    assert code_of(peer_form, D.BROKER_TO_CONTROLLER) == E.MALFORMED
    broker_form = [SIG, b"\x32", s8("t") + b"\x00" + s8("c1"), b"x"]
    assert code_of(broker_form, D.CONTROLLER_TO_BROKER) == E.MALFORMED  # surplus bytes
    pub = p.decode(broker_form, D.BROKER_TO_INVOKER)
    assert pub == p.Publication("t", 0, "c1", b"x")
    assert pub.origin_role == p.OriginRole.CONTROLLER and pub.origin_role_name == "controller"


@pytest.mark.parametrize("frames, direction, code", [
    # direction table (§4): SUBSCRIBE/UNSUBSCRIBE only peer -> broker, PUBLISH both ways
    ([SIG, b"\x30", s8("a")], D.BROKER_TO_CONTROLLER, E.UNEXPECTED_COMMAND),
    ([SIG, b"\x31", s8("a")], D.BROKER_TO_INVOKER, E.UNEXPECTED_COMMAND),
    ([SIG, b"\x33", s8("a")], D.CONTROLLER_TO_BROKER, E.UNKNOWN_COMMAND),
    # frame counts: one body frame for (UN)SUBSCRIBE, two for PUBLISH
    ([SIG, b"\x30"], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x30", s8("a"), b""], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x31"], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x32", s8("t")], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # no payload frame
    ([SIG, b"\x32", s8("t"), b"", b""], D.INVOKER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x32", s8("t") + b"\x01" + s8("i")], D.BROKER_TO_INVOKER, E.MALFORMED),
    # fields: truncation, surplus bytes, UTF-8
    ([SIG, b"\x30", b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # no length byte
    ([SIG, b"\x30", b"\x03ab"], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # runs past the end
    ([SIG, b"\x30", s8("ab") + b"\x00"], D.CONTROLLER_TO_BROKER, E.MALFORMED),  # surplus byte
    ([SIG, b"\x31", b"\x02\xc3\x28"], D.INVOKER_TO_BROKER, E.MALFORMED),  # bad UTF-8
    ([SIG, b"\x32", b"\x02\xc3\x28", b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x32", b"", b""], D.CONTROLLER_TO_BROKER, E.MALFORMED),
    ([SIG, b"\x32", s8("t") + b"\x00", b""], D.BROKER_TO_CONTROLLER, E.MALFORMED),  # no origin
    ([SIG, b"\x32", s8("t"), b""], D.BROKER_TO_CONTROLLER, E.MALFORMED),  # no origin-role
    ([SIG, b"\x32", s8("t") + b"\x00" + s8("c") + b"\x00", b""], D.BROKER_TO_CONTROLLER, E.MALFORMED),
    # origin-role is 0 or 1
    ([SIG, b"\x32", s8("t") + b"\x02" + s8("c"), b""], D.BROKER_TO_CONTROLLER, E.MALFORMED),
    ([SIG, b"\x32", s8("t") + b"\xff" + s8("c"), b""], D.BROKER_TO_INVOKER, E.MALFORMED),
    # §3.2: prefixes 0..64, topics 1..64 bytes of [A-Za-z0-9._-]; anything else invalidId
    ([SIG, b"\x30", s8("x" * 65)], D.CONTROLLER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x30", s8("a b")], D.CONTROLLER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x30", s8("a/b")], D.INVOKER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x30", s8("a*")], D.INVOKER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x31", s8("é")], D.CONTROLLER_TO_BROKER, E.INVALID_ID),  # valid UTF-8, not the set
    ([SIG, b"\x31", s8("x" * 65)], D.INVOKER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x32", s8(""), b"x"], D.CONTROLLER_TO_BROKER, E.INVALID_ID),  # empty topic
    ([SIG, b"\x32", s8("t" * 65), b"x"], D.INVOKER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x32", s8("a:b"), b"x"], D.INVOKER_TO_BROKER, E.INVALID_ID),
    ([SIG, b"\x32", s8("") + b"\x00" + s8("c"), b""], D.BROKER_TO_CONTROLLER, E.INVALID_ID),
    ([SIG, b"\x32", s8("t" * 65) + b"\x00" + s8("c"), b""], D.BROKER_TO_CONTROLLER, E.INVALID_ID),
    ([SIG, b"\x32", s8("t") + b"\x01" + s8(""), b""], D.BROKER_TO_INVOKER, E.INVALID_ID),  # origin is an id
    ([SIG, b"\x32", s8("t") + b"\x01" + s8("in v"), b""], D.BROKER_TO_INVOKER, E.INVALID_ID),
    ([SIG, b"\x32", s8("t") + b"\x00" + s8("c" * 129), b""], D.BROKER_TO_CONTROLLER, E.INVALID_ID),
])
def test_broadcast_decode_errors(frames, direction, code):
    assert code_of(frames, direction) == code


@pytest.mark.parametrize("msg, code", [
    (p.Subscribe("x" * 65), E.INVALID_ID),
    (p.Subscribe("a b"), E.INVALID_ID),
    (p.Subscribe("ü"), E.INVALID_ID),
    (p.Unsubscribe("a/b"), E.INVALID_ID),
    (p.Publish("", b""), E.INVALID_ID),
    (p.Publish("t" * 65, b""), E.INVALID_ID),
    (p.Publish("a b", b""), E.INVALID_ID),
    (p.Publication("t", 2, "c", b""), E.MALFORMED),
    (p.Publication("t", 0, "", b""), E.INVALID_ID),
    (p.Publication("", 0, "c", b""), E.INVALID_ID),
])
def test_encode_refuses_invalid_broadcast_messages(msg, code):
    with pytest.raises(p.ProtocolError) as info:
        p.encode(msg)
    assert info.value.code == code


def test_topic_rules():
    assert p.is_valid_topic("a") and p.is_valid_topic("Az09._-" + "x" * 57)  # 64 bytes
    assert not p.is_valid_topic("") and not p.is_valid_topic("x" * 65)
    assert p.check_topic_prefix("") == ""
    # §4.13: byte-wise prefix match; the empty prefix matches every topic
    assert p.topic_matches("", "health")
    assert p.topic_matches("cache.", "cache.invalidate")
    assert p.topic_matches("cache.invalidate", "cache.invalidate")
    assert not p.topic_matches("cache.", "cache")
    assert not p.topic_matches("Cache", "cache")  # case matters


def test_unknown_origin_role_name():
    assert p.Publication("t", 7, "x", b"").origin_role_name == "role7"
