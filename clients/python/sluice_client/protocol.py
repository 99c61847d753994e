"""SLU/1 codec: frames <-> Python objects, written from docs/PROTOCOL.md only.

Every message is a list of ZeroMQ frames as the DEALER side sees them:
``[signature, command, *body]`` (§3.1). ``encode(msg)`` builds those frames after
validating every field; ``decode(frames, direction)`` parses and validates them and
raises :class:`ProtocolError` carrying the §7 error code on any violation.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import List, Optional, Sequence, Tuple, Union

# --------------------------------------------------------------------------- constants

VERSION = 1
SIGNATURE = b"SLU" + bytes([VERSION])  # §3.1


class Command(IntEnum):  # §4
    HELLO = 0x01
    WELCOME = 0x02
    HEARTBEAT = 0x03
    GOODBYE = 0x04
    ERROR = 0x05
    ACTIVATE = 0x10
    ANSWER = 0x11
    CAPACITY = 0x20
    DISPATCH = 0x21
    RESULT = 0x22
    COMPLETION = 0x23
    SUBSCRIBE = 0x30
    UNSUBSCRIBE = 0x31
    PUBLISH = 0x32


class Direction(Enum):
    CONTROLLER_TO_BROKER = "controller->broker"
    BROKER_TO_CONTROLLER = "broker->controller"
    INVOKER_TO_BROKER = "invoker->broker"
    BROKER_TO_INVOKER = "broker->invoker"


# The direction table of §4.
_ALLOWED = {
    Direction.CONTROLLER_TO_BROKER: {Command.HELLO, Command.HEARTBEAT, Command.GOODBYE, Command.ACTIVATE,
                                     Command.SUBSCRIBE, Command.UNSUBSCRIBE, Command.PUBLISH},
    Direction.BROKER_TO_CONTROLLER: {Command.WELCOME, Command.HEARTBEAT, Command.ERROR, Command.ANSWER,
                                     Command.PUBLISH},
    Direction.INVOKER_TO_BROKER: {Command.HELLO, Command.HEARTBEAT, Command.GOODBYE, Command.CAPACITY,
                                  Command.RESULT, Command.COMPLETION, Command.SUBSCRIBE, Command.UNSUBSCRIBE,
                                  Command.PUBLISH},
    Direction.BROKER_TO_INVOKER: {Command.WELCOME, Command.HEARTBEAT, Command.ERROR, Command.DISPATCH,
                                  Command.PUBLISH},
}
_TO_BROKER = (Direction.CONTROLLER_TO_BROKER, Direction.INVOKER_TO_BROKER)


class ErrorCode(IntEnum):  # §7
    BAD_SIGNATURE = 1
    BAD_VERSION = 2
    UNKNOWN_COMMAND = 3
    UNEXPECTED_COMMAND = 4
    MALFORMED = 5
    INVALID_ID = 6
    NOT_REGISTERED = 7
    DUPLICATE_ACTIVATION = 8
    UNKNOWN_ACTIVATION = 9
    OVERSIZE = 10


class AnswerKind(IntEnum):  # §6.2
    SUCCESS = 0
    APPLICATION_ERROR = 1
    SYSTEM_ERROR = 2
    TIMEOUT = 3
    INVOKER_LOST = 4
    OVERLOADED = 5
    THROTTLED = 6
    EXPIRED = 7
    REJECTED = 8


class Outcome(IntEnum):  # §4.10
    SUCCESS = 0
    APPLICATION_ERROR = 1
    SYSTEM_ERROR = 2


class OriginRole(IntEnum):  # §4.14: who published a publication
    CONTROLLER = 0
    INVOKER = 1


# ACTIVATE flags (§4.6)
FLAG_BLOCKING = 0x01
FLAG_BLACKBOX = 0x02
_ACTIVATE_FLAGS_MASK = FLAG_BLOCKING | FLAG_BLACKBOX

# COMPLETION flags (§4.11)
COMPLETION_HAS_RESULT = 0x01
COMPLETION_SYSTEM_ERROR = 0x02
COMPLETION_HAS_WARM_REPORT = 0x04
_COMPLETION_FLAGS_MASK = COMPLETION_HAS_RESULT | COMPLETION_SYSTEM_ERROR | COMPLETION_HAS_WARM_REPORT

MAX_TAGS = 32            # §4.1, §4.6
MAX_TAG_BYTES = 64       # §4.1, §4.6
MAX_DEDICATED = 32       # §4.1
MAX_NAMESPACE_BYTES = 255
MAX_ACTION_BYTES = 1024  # §4.6
MAX_ID_BYTES = 128       # §3.2
MAX_WARM_ENTRIES = 4096  # §4.12
MAX_TOPIC_BYTES = 64     # §3.2, §4.13, §4.14: topics and topic prefixes
MAX_SUBSCRIPTIONS = 32   # §4.13: prefixes per session; a 33rd SUBSCRIBE is `oversize`
# A list longer than its limit (tags, dedicated namespaces, warm entries) is reported as
# `oversize` ("a field longer than its limit", §7); an empty string that must not be empty,
# a zero that must be >= 1, or a reserved bit as `malformed` ("value out of range").
U16_MAX = 0xFFFF
U32_MAX = 0xFFFFFFFF

_ID_RE = re.compile(rb"[A-Za-z0-9._-]{1,128}\Z")
_TOPIC_RE = re.compile(rb"[A-Za-z0-9._-]{1,64}\Z")
_TOPIC_PREFIX_RE = re.compile(rb"[A-Za-z0-9._-]{0,64}\Z")


class ProtocolError(Exception):
    """A §7 violation. ``activation_id`` is set when the activation id had been read."""

    def __init__(self, code: int, reason: str, activation_id: str = ""):
        super().__init__(f"{ErrorCode(code).name if code in ErrorCode._value2member_map_ else code}: {reason}")
        self.code = int(code)
        self.reason = reason
        self.activation_id = activation_id


def _malformed(reason: str, activation_id: str = "") -> ProtocolError:
    return ProtocolError(ErrorCode.MALFORMED, reason, activation_id)


# --------------------------------------------------------------------------- field validation

def is_valid_id(value: str) -> bool:
    """§3.2: ``[A-Za-z0-9._-]{1,128}``."""
    try:
        raw = value.encode("ascii")
    except (UnicodeEncodeError, AttributeError):
        return False
    return _ID_RE.match(raw) is not None


def check_id(value: str, what: str = "id", activation_id: str = "") -> str:
    if not is_valid_id(value):
        raise ProtocolError(ErrorCode.INVALID_ID, f"{what} {value!r} is not [A-Za-z0-9._-]{{1,128}}",
                            activation_id)
    return value


def check_optional_id(value: str, what: str, activation_id: str = "") -> str:
    if value == "":
        return value
    return check_id(value, what, activation_id)


def _check_topic_like(value: str, pattern: "re.Pattern[bytes]", what: str, rule: str) -> str:
    # §3.2: topics and prefixes use the id characters, at most 64 bytes; "anything else is
    # invalidId" (so a 65-byte topic is invalidId, not oversize).
    try:
        raw = value.encode("ascii")
    except (UnicodeEncodeError, AttributeError):
        raw = None
    if raw is None or pattern.match(raw) is None:
        raise ProtocolError(ErrorCode.INVALID_ID, f"{what} {value!r} is not {rule}")
    return value


def is_valid_topic(value: str) -> bool:
    """§4.14: a topic is ``[A-Za-z0-9._-]{1,64}``."""
    try:
        check_topic(value)
    except ProtocolError:
        return False
    return True


def check_topic(value: str, what: str = "topic") -> str:
    """§3.2, §4.14: 1..64 bytes of ``[A-Za-z0-9._-]``; anything else is invalidId."""
    return _check_topic_like(value, _TOPIC_RE, what, "[A-Za-z0-9._-]{1,64}")


def check_topic_prefix(value: str, what: str = "topic prefix") -> str:
    """§3.2, §4.13: 0..64 bytes of ``[A-Za-z0-9._-]`` (empty matches every topic)."""
    return _check_topic_like(value, _TOPIC_PREFIX_RE, what, "[A-Za-z0-9._-]{0,64}")


def topic_matches(prefix: str, topic: str) -> bool:
    """§4.13: byte-wise prefix match, as ZeroMQ's SUB socket does."""
    return topic.encode("utf-8").startswith(prefix.encode("utf-8"))


def _has_control_characters(value: str) -> bool:
    # "no control characters" (§4.1, §4.6) is read as Unicode category Cc:
    # U+0000-U+001F, U+007F and U+0080-U+009F.
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def check_namespace(value: str, what: str = "namespace", activation_id: str = "") -> str:
    n = len(value.encode("utf-8"))
    if n == 0:
        raise _malformed(f"{what} is empty", activation_id)
    if n > MAX_NAMESPACE_BYTES:
        raise ProtocolError(ErrorCode.OVERSIZE, f"{what} is {n} bytes, limit {MAX_NAMESPACE_BYTES}", activation_id)
    if _has_control_characters(value):
        raise _malformed(f"{what} {value!r} contains control characters", activation_id)
    return value


def check_action(value: str, activation_id: str = "") -> str:
    n = len(value.encode("utf-8"))
    if n == 0:
        raise _malformed("action is empty", activation_id)
    if n > MAX_ACTION_BYTES:
        raise ProtocolError(ErrorCode.OVERSIZE, f"action is {n} bytes, limit {MAX_ACTION_BYTES}", activation_id)
    return value


def check_tags(tags: Sequence[str], what: str = "tag", activation_id: str = "") -> Tuple[str, ...]:
    tags = tuple(tags)
    if len(tags) > MAX_TAGS:
        raise ProtocolError(ErrorCode.OVERSIZE, f"{len(tags)} {what}s, limit {MAX_TAGS}", activation_id)
    for t in tags:
        n = len(t.encode("utf-8"))
        if n == 0:
            raise _malformed(f"empty {what}", activation_id)
        if n > MAX_TAG_BYTES:
            raise ProtocolError(ErrorCode.OVERSIZE, f"{what} is {n} bytes, limit {MAX_TAG_BYTES}", activation_id)
    return tags


def _check_u(value: int, bits: int, what: str, activation_id: str = "") -> int:
    if not isinstance(value, int) or value < 0 or value >= (1 << bits):
        raise _malformed(f"{what} {value!r} is not a u{bits}", activation_id)
    return value


# --------------------------------------------------------------------------- low-level reader / writer

class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data = bytes(data)
        self.pos = 0
        self.what = what
        self.activation_id = ""  # set once read, so later errors can name it

    def _take(self, n: int, field_name: str) -> bytes:
        if self.pos + n > len(self.data):
            raise _malformed(f"{self.what}: truncated at {field_name}", self.activation_id)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self, name: str) -> int:
        return self._take(1, name)[0]

    def u16(self, name: str) -> int:
        return struct.unpack(">H", self._take(2, name))[0]

    def u32(self, name: str) -> int:
        return struct.unpack(">I", self._take(4, name))[0]

    def _string(self, n: int, name: str) -> str:
        raw = self._take(n, name)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(f"{self.what}: {name} is not valid UTF-8", self.activation_id) from None

    def short_string(self, name: str) -> str:
        return self._string(self.u8(name), name)

    def long_string(self, name: str) -> str:
        return self._string(self.u16(name), name)

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise _malformed(f"{self.what}: {len(self.data) - self.pos} surplus bytes", self.activation_id)


class _Writer:
    def __init__(self) -> None:
        self.parts: List[bytes] = []

    def u8(self, v: int, name: str = "u8") -> "_Writer":
        self.parts.append(struct.pack(">B", _check_u(v, 8, name)))
        return self

    def u16(self, v: int, name: str = "u16") -> "_Writer":
        self.parts.append(struct.pack(">H", _check_u(v, 16, name)))
        return self

    def u32(self, v: int, name: str = "u32") -> "_Writer":
        self.parts.append(struct.pack(">I", _check_u(v, 32, name)))
        return self

    def short_string(self, s: str, name: str = "short-string") -> "_Writer":
        raw = s.encode("utf-8")
        if len(raw) > 0xFF:
            raise ProtocolError(ErrorCode.OVERSIZE, f"{name} is {len(raw)} bytes, limit 255")
        self.parts.append(bytes([len(raw)]) + raw)
        return self

    def long_string(self, s: str, name: str = "long-string") -> "_Writer":
        raw = s.encode("utf-8")
        if len(raw) > U16_MAX:
            raise ProtocolError(ErrorCode.OVERSIZE, f"{name} is {len(raw)} bytes, limit 65535")
        self.parts.append(struct.pack(">H", len(raw)) + raw)
        return self

    def bytes(self) -> bytes:
        return b"".join(self.parts)


# --------------------------------------------------------------------------- data types

@dataclass(frozen=True)
class WarmEntry:
    """One entry of a warm report (§4.12)."""
    action: str
    idle: int
    total: int


WarmReport = Tuple[WarmEntry, ...]


@dataclass(frozen=True)
class RoutingHeader:
    """The routing header of ACTIVATE and DISPATCH (§4.6)."""
    activation_id: str
    namespace: str
    action: str
    revision: str = ""
    memory_mb: int = 256
    time_limit_ms: int = 60_000
    flags: int = 0
    target_invoker: str = ""
    answer_to: str = ""
    required_tags: Tuple[str, ...] = ()
    max_wait_ms: int = 0

    @property
    def blocking(self) -> bool:
        return bool(self.flags & FLAG_BLOCKING)

    @property
    def blackbox(self) -> bool:
        return bool(self.flags & FLAG_BLACKBOX)


@dataclass(frozen=True)
class ControllerHello:
    controller_id: str


@dataclass(frozen=True)
class InvokerHello:
    invoker_id: str
    memory_mb: int
    slots: int
    tags: Tuple[str, ...] = ()
    dedicated_namespaces: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Welcome:
    broker_id: str
    heartbeat_ms: int
    max_message: int


@dataclass(frozen=True)
class Heartbeat:
    warm_report: Optional[WarmReport] = None  # only invoker -> broker (§4.3)


@dataclass(frozen=True)
class Goodbye:
    pass


@dataclass(frozen=True)
class Error:
    code: int
    activation_id: str
    reason: str

    @property
    def code_name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"code{self.code}"


@dataclass(frozen=True)
class Activate:
    header: RoutingHeader
    payload: bytes


@dataclass(frozen=True)
class Answer:
    activation_id: str
    kind: int
    invoker_id: str
    reason: str
    result: bytes

    @property
    def ok(self) -> bool:
        # §6.2: an unknown kind value MUST be treated as a failure.
        return self.kind == AnswerKind.SUCCESS

    @property
    def kind_name(self) -> str:
        try:
            return AnswerKind(self.kind).name
        except ValueError:
            return f"unknown({self.kind})"


@dataclass(frozen=True)
class Capacity:
    memory_mb: int
    slots: int


@dataclass(frozen=True)
class Dispatch:
    header: RoutingHeader
    payload: bytes


@dataclass(frozen=True)
class Result:
    activation_id: str
    outcome: int
    result: bytes


@dataclass(frozen=True)
class Completion:
    activation_id: str
    outcome: int = Outcome.SUCCESS
    result: Optional[bytes] = None          # not None: the combined form (flag bit 0)
    system_error: bool = False              # flag bit 1
    warm_report: Optional[WarmReport] = None  # not None: flag bit 2

    @property
    def flags(self) -> int:
        f = 0
        if self.result is not None:
            f |= COMPLETION_HAS_RESULT
        if self.system_error:
            f |= COMPLETION_SYSTEM_ERROR
        if self.warm_report is not None:
            f |= COMPLETION_HAS_WARM_REPORT
        return f


@dataclass(frozen=True)
class Subscribe:
    """SUBSCRIBE (§4.13), peer -> broker. An empty prefix matches every topic."""
    prefix: str


@dataclass(frozen=True)
class Unsubscribe:
    """UNSUBSCRIBE (§4.13), peer -> broker."""
    prefix: str


@dataclass(frozen=True)
class Publish:
    """PUBLISH (§4.14) as a peer sends it: the header is the topic alone."""
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Publication:
    """PUBLISH (§4.14) as the broker forwards it: topic, who published it, payload."""
    topic: str
    origin_role: int   # OriginRole: 0 controller, 1 invoker
    origin_id: str     # the publishing peer's controller or invoker id
    payload: bytes

    @property
    def origin_role_name(self) -> str:
        try:
            return OriginRole(self.origin_role).name.lower()
        except ValueError:
            return f"role{self.origin_role}"


Message = Union[ControllerHello, InvokerHello, Welcome, Heartbeat, Goodbye, Error, Activate, Answer,
                Capacity, Dispatch, Result, Completion, Subscribe, Unsubscribe, Publish, Publication]

# --------------------------------------------------------------------------- body encoders / decoders


def encode_routing_header(h: RoutingHeader) -> bytes:
    validate_routing_header(h)
    w = _Writer()
    w.short_string(h.activation_id).short_string(h.namespace).long_string(h.action)
    w.short_string(h.revision).u32(h.memory_mb).u32(h.time_limit_ms).u8(h.flags)
    w.short_string(h.target_invoker).short_string(h.answer_to)
    w.u8(len(h.required_tags))
    for t in h.required_tags:
        w.short_string(t)
    w.u32(h.max_wait_ms)
    return w.bytes()


def validate_routing_header(h: RoutingHeader) -> None:
    aid = check_id(h.activation_id, "activation id")
    check_namespace(h.namespace, "namespace", aid)
    check_action(h.action, aid)
    if len(h.revision.encode("utf-8")) > 0xFF:
        raise ProtocolError(ErrorCode.OVERSIZE, "revision longer than 255 bytes", aid)
    for name in ("memory_mb", "time_limit_ms"):
        v = getattr(h, name)
        _check_u(v, 32, name, aid)
        if v < 1:
            raise _malformed(f"{name} must be >= 1", aid)
    _check_u(h.flags, 8, "flags", aid)
    if h.flags & ~_ACTIVATE_FLAGS_MASK:
        raise _malformed(f"flags 0x{h.flags:02x}: reserved bits set", aid)
    check_optional_id(h.target_invoker, "target-invoker", aid)
    check_optional_id(h.answer_to, "answer-to", aid)
    check_tags(h.required_tags, "required tag", aid)
    _check_u(h.max_wait_ms, 32, "max_wait_ms", aid)


def decode_routing_header(frame: bytes) -> RoutingHeader:
    r = _Reader(frame, "routing header")
    aid = r.short_string("activation-id")
    check_id(aid, "activation id")
    r.activation_id = aid
    namespace = check_namespace(r.short_string("namespace"), "namespace", aid)
    action = check_action(r.long_string("action"), aid)
    revision = r.short_string("revision")
    memory_mb = r.u32("memory-mb")
    time_limit_ms = r.u32("time-limit-ms")
    flags = r.u8("flags")
    target = check_optional_id(r.short_string("target-invoker"), "target-invoker", aid)
    answer_to = check_optional_id(r.short_string("answer-to"), "answer-to", aid)
    count = r.u8("required-tag-count")
    if count > MAX_TAGS:
        raise ProtocolError(ErrorCode.OVERSIZE, f"required-tag-count {count} > {MAX_TAGS}", aid)
    tags = tuple(r.short_string("required-tag") for _ in range(count))
    max_wait_ms = r.u32("max-wait-ms")
    r.finish()
    h = RoutingHeader(aid, namespace, action, revision, memory_mb, time_limit_ms, flags, target, answer_to,
                      tags, max_wait_ms)
    validate_routing_header(h)
    return h


def encode_warm_report(report: Sequence[WarmEntry]) -> bytes:
    report = tuple(report)
    validate_warm_report(report)
    w = _Writer().u16(len(report))
    for e in report:
        w.long_string(e.action).u16(e.idle).u16(e.total)
    return w.bytes()


def validate_warm_report(report: Sequence[WarmEntry]) -> None:
    if len(report) > MAX_WARM_ENTRIES:
        raise ProtocolError(ErrorCode.OVERSIZE, f"warm report has {len(report)} entries, limit {MAX_WARM_ENTRIES}")
    for e in report:
        check_action(e.action)
        _check_u(e.idle, 16, "idle")
        _check_u(e.total, 16, "total")
        if e.total < 1:
            raise _malformed(f"warm entry {e.action!r}: total must be >= 1")
        if e.idle > e.total:
            raise _malformed(f"warm entry {e.action!r}: idle {e.idle} > total {e.total}")


def decode_warm_report(frame: bytes) -> WarmReport:
    r = _Reader(frame, "warm report")
    count = r.u16("entry-count")
    if count > MAX_WARM_ENTRIES:
        raise ProtocolError(ErrorCode.OVERSIZE, f"warm report entry-count {count} > {MAX_WARM_ENTRIES}")
    entries = tuple(WarmEntry(r.long_string("action"), r.u16("idle"), r.u16("total")) for _ in range(count))
    r.finish()
    validate_warm_report(entries)
    return entries


# --------------------------------------------------------------------------- message encoding


def _frames(cmd: Command, *body: bytes) -> List[bytes]:
    return [SIGNATURE, bytes([cmd])] + [bytes(b) for b in body]


def encode(msg: Message) -> List[bytes]:
    """Validate ``msg`` and return its frames (signature, command, body...)."""
    if isinstance(msg, ControllerHello):
        check_id(msg.controller_id, "controller id")
        return _frames(Command.HELLO, _Writer().short_string(msg.controller_id).bytes())
    if isinstance(msg, InvokerHello):
        check_id(msg.invoker_id, "invoker id")
        memory_mb, slots = _check_u(msg.memory_mb, 32, "memory_mb"), _check_u(msg.slots, 32, "slots")
        if not ((memory_mb >= 1 and slots >= 1) or (memory_mb == 0 and slots == 0)):
            raise _malformed("memory_mb and slots must be both >= 1, or both 0 (drained)")
        tags = check_tags(msg.tags)
        dedicated = tuple(msg.dedicated_namespaces)
        if len(dedicated) > MAX_DEDICATED:
            raise ProtocolError(ErrorCode.OVERSIZE, f"{len(dedicated)} dedicated namespaces, limit {MAX_DEDICATED}")
        for ns in dedicated:
            check_namespace(ns, "dedicated namespace")
        w = _Writer().short_string(msg.invoker_id).u32(msg.memory_mb).u32(msg.slots).u8(len(tags))
        for t in tags:
            w.short_string(t)
        w.u8(len(dedicated))
        for ns in dedicated:
            w.short_string(ns)
        return _frames(Command.HELLO, w.bytes())
    if isinstance(msg, Welcome):
        check_id(msg.broker_id, "broker id")
        w = _Writer().short_string(msg.broker_id).u32(msg.heartbeat_ms).u32(msg.max_message)
        return _frames(Command.WELCOME, w.bytes())
    if isinstance(msg, Heartbeat):
        if msg.warm_report is None:
            return _frames(Command.HEARTBEAT)
        return _frames(Command.HEARTBEAT, encode_warm_report(msg.warm_report))
    if isinstance(msg, Goodbye):
        return _frames(Command.GOODBYE)
    if isinstance(msg, Error):
        check_optional_id(msg.activation_id, "activation-ref")
        w = _Writer().u16(msg.code).short_string(msg.activation_id).long_string(msg.reason)
        return _frames(Command.ERROR, w.bytes())
    if isinstance(msg, Activate):
        return _frames(Command.ACTIVATE, encode_routing_header(msg.header), msg.payload)
    if isinstance(msg, Dispatch):
        return _frames(Command.DISPATCH, encode_routing_header(msg.header), msg.payload)
    if isinstance(msg, Answer):
        check_id(msg.activation_id, "activation id")
        check_optional_id(msg.invoker_id, "invoker-ref")
        w = _Writer().short_string(msg.activation_id).u8(msg.kind).short_string(msg.invoker_id)
        w.long_string(msg.reason)
        return _frames(Command.ANSWER, w.bytes(), msg.result)
    if isinstance(msg, Capacity):
        _check_capacity(msg.memory_mb, msg.slots)
        return _frames(Command.CAPACITY, _Writer().u32(msg.memory_mb).u32(msg.slots).bytes())
    if isinstance(msg, Result):
        check_id(msg.activation_id, "activation id")
        _check_outcome(msg.outcome, msg.activation_id)
        header = _Writer().short_string(msg.activation_id).u8(msg.outcome).bytes()
        return _frames(Command.RESULT, header, msg.result)
    if isinstance(msg, Completion):
        check_id(msg.activation_id, "activation id")
        _check_outcome(msg.outcome, msg.activation_id)
        if msg.result is None and msg.outcome != Outcome.SUCCESS:
            raise _malformed("a completion without a result frame must have outcome 0", msg.activation_id)
        header = _Writer().short_string(msg.activation_id).u8(msg.flags).u8(msg.outcome).bytes()
        body = [header]
        if msg.result is not None:
            body.append(msg.result)
        if msg.warm_report is not None:
            body.append(encode_warm_report(msg.warm_report))
        return _frames(Command.COMPLETION, *body)
    if isinstance(msg, (Subscribe, Unsubscribe)):
        check_topic_prefix(msg.prefix)
        cmd = Command.SUBSCRIBE if isinstance(msg, Subscribe) else Command.UNSUBSCRIBE
        return _frames(cmd, _Writer().short_string(msg.prefix).bytes())
    if isinstance(msg, Publish):
        check_topic(msg.topic)
        return _frames(Command.PUBLISH, _Writer().short_string(msg.topic).bytes(), msg.payload)
    if isinstance(msg, Publication):
        check_topic(msg.topic)
        _check_origin_role(msg.origin_role)
        check_id(msg.origin_id, "origin")
        header = _Writer().short_string(msg.topic).u8(msg.origin_role).short_string(msg.origin_id).bytes()
        return _frames(Command.PUBLISH, header, msg.payload)
    raise TypeError(f"not an SLU/1 message: {msg!r}")


def _check_capacity(memory_mb: int, slots: int) -> None:
    _check_u(memory_mb, 32, "memory-mb")
    _check_u(slots, 32, "slots")
    if (memory_mb == 0) != (slots == 0):
        raise _malformed("capacity: both 0 (drain) or both >= 1")


def _check_origin_role(role: int) -> None:
    # §4.14 defines 0 and 1 only; anything else is a value out of range (§7 malformed).
    if role not in (OriginRole.CONTROLLER, OriginRole.INVOKER):
        raise _malformed(f"origin-role {role!r} is not 0 (controller) or 1 (invoker)")


def _check_outcome(outcome: int, aid: str) -> None:
    if outcome not in (0, 1, 2):
        raise _malformed(f"outcome {outcome} is not 0, 1 or 2", aid)


# --------------------------------------------------------------------------- message decoding


def _expect_body(frames: Sequence[bytes], n: int, what: str) -> None:
    if len(frames) - 2 != n:
        raise _malformed(f"{what}: {len(frames) - 2} body frames, expected {n}")


def decode(frames: Sequence[bytes], direction: Direction) -> Message:
    """Parse the frames of one message travelling in ``direction``; raise ProtocolError."""
    frames = [bytes(f) for f in frames]
    if not frames:
        raise _malformed("empty message")
    sig = frames[0]
    if len(sig) != len(SIGNATURE) or sig[:3] != b"SLU":
        raise ProtocolError(ErrorCode.BAD_SIGNATURE, "first frame is not SLU + version")
    if sig[3] != VERSION:
        raise ProtocolError(ErrorCode.BAD_VERSION, f"protocol version {sig[3]}, expected {VERSION}")
    if len(frames) < 2 or len(frames[1]) != 1:
        raise _malformed("command frame missing or not exactly one byte")
    byte = frames[1][0]
    try:
        cmd = Command(byte)
    except ValueError:
        raise ProtocolError(ErrorCode.UNKNOWN_COMMAND, f"command byte 0x{byte:02x}") from None
    if cmd not in _ALLOWED[direction]:
        raise ProtocolError(ErrorCode.UNEXPECTED_COMMAND, f"{cmd.name} not allowed {direction.value}")
    body = frames[2:]

    if cmd == Command.HELLO:
        _expect_body(frames, 1, "HELLO")
        r = _Reader(body[0], "HELLO")
        ident = check_id(r.short_string("id"))
        if direction == Direction.CONTROLLER_TO_BROKER:
            r.finish()
            return ControllerHello(ident)
        memory_mb = r.u32("memory-mb")
        slots = r.u32("slots")
        if not ((memory_mb >= 1 and slots >= 1) or (memory_mb == 0 and slots == 0)):
            raise _malformed("HELLO: memory-mb and slots must be both >= 1, or both 0 (drained)")
        tag_count = r.u8("tag-count")
        if tag_count > MAX_TAGS:
            raise ProtocolError(ErrorCode.OVERSIZE, f"HELLO: tag-count {tag_count} > {MAX_TAGS}")
        tags = check_tags([r.short_string("tag") for _ in range(tag_count)])
        ded_count = r.u8("dedicated-count")
        if ded_count > MAX_DEDICATED:
            raise ProtocolError(ErrorCode.OVERSIZE, f"HELLO: dedicated-count {ded_count} > {MAX_DEDICATED}")
        dedicated = tuple(check_namespace(r.short_string("namespace"), "dedicated namespace")
                          for _ in range(ded_count))
        r.finish()
        return InvokerHello(ident, memory_mb, slots, tags, dedicated)

    if cmd == Command.WELCOME:
        _expect_body(frames, 1, "WELCOME")
        r = _Reader(body[0], "WELCOME")
        w = Welcome(check_id(r.short_string("broker-id"), "broker id"), r.u32("heartbeat-ms"),
                    r.u32("max-message"))
        r.finish()
        return w

    if cmd == Command.HEARTBEAT:
        if direction == Direction.INVOKER_TO_BROKER and len(body) == 1:
            return Heartbeat(decode_warm_report(body[0]))
        _expect_body(frames, 0, "HEARTBEAT")
        return Heartbeat()

    if cmd == Command.GOODBYE:
        _expect_body(frames, 0, "GOODBYE")
        return Goodbye()

    if cmd == Command.ERROR:
        _expect_body(frames, 1, "ERROR")
        r = _Reader(body[0], "ERROR")
        # The code is not range-checked: a newer broker may add codes.
        e = Error(r.u16("code"), r.short_string("activation-ref"), r.long_string("reason"))
        r.finish()
        return e

    if cmd in (Command.ACTIVATE, Command.DISPATCH):
        _expect_body(frames, 2, cmd.name)
        header = decode_routing_header(body[0])
        return (Activate if cmd == Command.ACTIVATE else Dispatch)(header, body[1])

    if cmd == Command.ANSWER:
        _expect_body(frames, 2, "ANSWER")
        r = _Reader(body[0], "ANSWER")
        aid = check_id(r.short_string("activation-id"), "activation id")
        r.activation_id = aid
        kind = r.u8("kind")  # unknown kinds are kept; Answer.ok treats them as failures (§6.2)
        invoker = check_optional_id(r.short_string("invoker-ref"), "invoker-ref", aid)
        reason = r.long_string("reason")
        r.finish()
        return Answer(aid, kind, invoker, reason, body[1])

    if cmd == Command.CAPACITY:
        _expect_body(frames, 1, "CAPACITY")
        r = _Reader(body[0], "CAPACITY")
        c = Capacity(r.u32("memory-mb"), r.u32("slots"))
        r.finish()
        _check_capacity(c.memory_mb, c.slots)
        return c

    if cmd == Command.RESULT:
        _expect_body(frames, 2, "RESULT")
        r = _Reader(body[0], "RESULT")
        aid = check_id(r.short_string("activation-id"), "activation id")
        r.activation_id = aid
        outcome = r.u8("outcome")
        r.finish()
        _check_outcome(outcome, aid)
        return Result(aid, outcome, body[1])

    if cmd == Command.COMPLETION:
        if not 1 <= len(body) <= 3:
            raise _malformed(f"COMPLETION: {len(body)} body frames, expected 1 to 3")
        r = _Reader(body[0], "COMPLETION")
        aid = check_id(r.short_string("activation-id"), "activation id")
        r.activation_id = aid
        flags = r.u8("completion-flags")
        outcome = r.u8("outcome")
        r.finish()
        if flags & ~_COMPLETION_FLAGS_MASK:
            raise _malformed(f"completion-flags 0x{flags:02x}: reserved bits set", aid)
        _check_outcome(outcome, aid)
        has_result = bool(flags & COMPLETION_HAS_RESULT)
        has_warm = bool(flags & COMPLETION_HAS_WARM_REPORT)
        expected = 1 + int(has_result) + int(has_warm)
        if len(body) != expected:
            raise _malformed(f"COMPLETION: {len(body)} body frames, flags say {expected}", aid)
        if not has_result and outcome != 0:
            raise _malformed("COMPLETION without a result frame must have outcome 0", aid)
        result = body[1] if has_result else None
        warm = None
        if has_warm:
            try:
                warm = decode_warm_report(body[-1])
            except ProtocolError as e:
                raise ProtocolError(e.code, e.reason, aid) from None
        return Completion(aid, outcome, result, bool(flags & COMPLETION_SYSTEM_ERROR), warm)

    if cmd in (Command.SUBSCRIBE, Command.UNSUBSCRIBE):
        _expect_body(frames, 1, cmd.name)
        r = _Reader(body[0], cmd.name)
        prefix = r.short_string("topic-prefix")
        r.finish()
        check_topic_prefix(prefix)
        return (Subscribe if cmd == Command.SUBSCRIBE else Unsubscribe)(prefix)

    if cmd == Command.PUBLISH:
        _expect_body(frames, 2, "PUBLISH")
        if direction in _TO_BROKER:
            r = _Reader(body[0], "PUBLISH header")
            topic = r.short_string("topic")
            r.finish()
            return Publish(check_topic(topic), body[1])
        r = _Reader(body[0], "publication header")
        topic = r.short_string("topic")
        role = r.u8("origin-role")
        origin = r.short_string("origin")
        r.finish()
        check_topic(topic)
        _check_origin_role(role)
        check_id(origin, "origin")
        return Publication(topic, role, origin, body[1])

    raise AssertionError(cmd)  # pragma: no cover
