"""Session handling shared by Controller and Invoker: HELLO/WELCOME, heartbeats (§4.3),
broker liveness, re-HELLO on ERROR notRegistered (§3.3), and broadcast (SUBSCRIBE,
UNSUBSCRIBE, PUBLISH: §4.13, §4.14, §6.5), which both roles speak alike. Single-threaded: one
DEALER socket, driven by ``_pump`` with a ``zmq.Poller``. Not thread-safe; use a peer from one
thread.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from typing import Callable, Deque, Dict, Iterable, List, Optional, Tuple

import zmq

from . import protocol as p

log = logging.getLogger("sluice_client")

DEFAULT_HEARTBEAT_MS = 1000  # used until the first WELCOME tells us the real value (§5)
DEFAULT_LIVENESS = 3         # §4.3 / §5; WELCOME does not carry it
DEFAULT_MAX_QUEUED_PUBLICATIONS = 10_000

PublicationHandler = Callable[[p.Publication], None]


class SessionError(Exception):
    pass


class _Peer:
    inbound: p.Direction  # direction of messages this peer receives
    outbound: p.Direction

    def __init__(self, endpoint: str, *, context: Optional[zmq.Context] = None,
                 liveness: int = DEFAULT_LIVENESS, subscriptions: Iterable[str] = (),
                 on_publication: Optional[PublicationHandler] = None,
                 max_queued_publications: int = DEFAULT_MAX_QUEUED_PUBLICATIONS):
        self.endpoint = endpoint
        self.liveness = liveness
        self._context = context or zmq.Context.instance()
        self._socket: Optional[zmq.Socket] = None
        self._poller = zmq.Poller()
        self.welcome: Optional[p.Welcome] = None
        self.registered = False
        self._hello_sent_at: Optional[float] = None
        self._last_recv = 0.0
        self._last_heartbeat_sent = 0.0
        # Observability, handy for tests and logs.
        self.hello_count = 0
        self.reconnects = 0
        self.not_registered_count = 0
        self.heartbeats_received = 0
        self.bad_messages: Deque[p.ProtocolError] = deque(maxlen=100)
        # Broadcast (§4.13, §4.14). The prefixes this peer wants, in the order first asked
        # for: the broker forgets them with the session, so they go out after every HELLO.
        self._subscriptions: Dict[str, None] = {}
        self.on_publication = on_publication
        self.max_queued_publications = max_queued_publications
        self.publications: Deque[p.Publication] = deque()
        self.publications_received = 0
        self.publications_dropped = 0  # arrived while ``publications`` was full
        self.subscribe_count = 0       # SUBSCRIBE messages sent, re-sends included
        self.publication_handler_errors = 0
        for prefix in subscriptions:  # recorded now, sent after the first HELLO
            self.subscribe(prefix)

    # ------------------------------------------------------------------ subclass hooks
    def _hello(self) -> p.Message:
        raise NotImplementedError

    def _handle(self, msg: p.Message) -> None:
        raise NotImplementedError

    def _on_error(self, err: p.Error) -> None:
        pass

    def _on_welcome(self, welcome: p.Welcome) -> None:
        pass

    def _heartbeat(self) -> p.Heartbeat:
        return p.Heartbeat()

    def _run_timers(self, now: float) -> bool:
        """Role timers (the controller's answer timer), run on every ``_tick``. Returns True
        if they made something for the caller (then ``_pump`` does not wait)."""
        return False

    def _next_due(self) -> Optional[float]:
        """The monotonic time the next role timer is due, or None."""
        return None

    # ------------------------------------------------------------------ public
    @property
    def heartbeat_s(self) -> float:
        ms = self.welcome.heartbeat_ms if self.welcome else DEFAULT_HEARTBEAT_MS
        return max(ms, 1) / 1000.0

    def connect(self, timeout: float = 10.0) -> p.Welcome:
        """Connect the DEALER, send HELLO and wait for WELCOME."""
        if self._socket is None:
            self._open()
        deadline = time.monotonic() + timeout
        while not self.registered:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionError(f"no WELCOME from {self.endpoint} within {timeout}s")
            self._pump(remaining)
        assert self.welcome is not None
        return self.welcome

    # ------------------------------------------------------------------ broadcast (§4.13, §4.14)
    @property
    def subscriptions(self) -> Tuple[str, ...]:
        """The topic prefixes this peer subscribes to, oldest first."""
        return tuple(self._subscriptions)

    def subscribe(self, prefix: str) -> None:
        """Ask for every later publication whose topic starts with ``prefix`` (SUBSCRIBE,
        §4.13; ``""`` matches every topic). Sent at once when a socket is open, and again
        after every HELLO this peer sends (reconnect, ERROR notRegistered, broker restart),
        because subscriptions belong to the session. Before ``connect`` it is only recorded.
        A prefix already held changes nothing. Raises ProtocolError: invalidId for a bad
        prefix, oversize for a 33rd prefix (the broker would refuse it, §4.13)."""
        p.check_topic_prefix(prefix)
        if prefix in self._subscriptions:
            return
        if len(self._subscriptions) >= p.MAX_SUBSCRIPTIONS:
            raise p.ProtocolError(p.ErrorCode.OVERSIZE,
                                  f"a session holds at most {p.MAX_SUBSCRIPTIONS} prefixes")
        self._subscriptions[prefix] = None
        if self._socket is not None:
            self._send_subscribe(prefix)

    def unsubscribe(self, prefix: str) -> None:
        """Stop asking for ``prefix`` (UNSUBSCRIBE, §4.13). Removing a prefix this peer
        does not hold changes nothing. Publications already on their way still arrive."""
        p.check_topic_prefix(prefix)
        self._subscriptions.pop(prefix, None)
        if self._socket is not None:
            self._send(p.Unsubscribe(prefix))

    def publish(self, topic: str, payload: bytes = b"") -> None:
        """PUBLISH (§4.14): the broker forwards ``payload`` unchanged to every session with a
        matching prefix, this one included. Best effort (§6.5): no reply, never repeated; a
        publication sent while the session is being lost (ERROR notRegistered) is gone.
        Connects first if needed. Raises ProtocolError invalidId for a bad topic."""
        frames = p.encode(p.Publish(topic, bytes(payload)))  # validates before connecting
        if self._socket is None:
            self.connect()
        assert self._socket is not None
        self._socket.send_multipart(frames, copy=False)

    def next_publication(self, timeout: float = 1.0) -> Optional[p.Publication]:
        """The next publication, waiting up to ``timeout`` seconds (running the session
        meanwhile); None if none came. Connects first if needed. Not used when the peer has an
        ``on_publication`` callback: that receives every publication instead."""
        if self._socket is None:
            self.connect()
        deadline = time.monotonic() + timeout
        while not self.publications:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(remaining)
        return self.publications.popleft()

    def poll_publications(self, timeout: float = 0.0) -> List[p.Publication]:
        """Run the session for up to ``timeout`` seconds (returns early once something
        arrived) and return every publication received so far."""
        if self._socket is None:
            self.connect()
        if not self.publications:
            self._pump(timeout)
        out = list(self.publications)
        self.publications.clear()
        return out

    def _send_subscribe(self, prefix: str) -> None:
        self.subscribe_count += 1
        self._send(p.Subscribe(prefix))

    def _on_publication(self, pub: p.Publication) -> None:
        self.publications_received += 1
        if self.on_publication is not None:
            try:
                self.on_publication(pub)
            except Exception:  # a broken callback must not end the session
                self.publication_handler_errors += 1
                log.exception("%s: on_publication raised for topic %r", self, pub.topic)
        elif len(self.publications) >= self.max_queued_publications:
            # Like a subscriber at its high-water mark (§6.5): the new one is missed, counted.
            self.publications_dropped += 1
        else:
            self.publications.append(pub)

    def close(self, goodbye: bool = True) -> None:
        """End the session (GOODBYE, §4.4) and close the socket."""
        if self._socket is None:
            return
        if goodbye and self.registered:
            try:
                self._send(p.Goodbye())
                self._socket.setsockopt(zmq.LINGER, 500)
            except zmq.ZMQError:
                pass
        self._poller.unregister(self._socket)
        self._socket.close()
        self._socket = None
        self.registered = False

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ internals
    def _open(self) -> None:
        s = self._context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        self._socket = s
        self._poller.register(s, zmq.POLLIN)
        self._last_recv = time.monotonic()
        self._send_hello()

    def _reconnect(self) -> None:
        log.warning("%s: broker silent for %d intervals, reconnecting", self, self.liveness)
        self.reconnects += 1
        if self._socket is not None:
            self._poller.unregister(self._socket)
            self._socket.close()
            self._socket = None
        self.registered = False
        self._open()

    def _send_hello(self) -> None:
        self.registered = False
        self._hello_sent_at = time.monotonic()
        self.hello_count += 1
        self._send(self._hello())
        # §4.13: a HELLO starts a session with no subscriptions, so every HELLO is followed
        # by all of ours. Same DEALER, so the broker reads them after the HELLO.
        for prefix in self._subscriptions:
            self._send_subscribe(prefix)

    def _send(self, msg: p.Message) -> None:
        if self._socket is None:
            raise SessionError("not connected")
        self._socket.send_multipart(p.encode(msg), copy=False)
        if isinstance(msg, p.Heartbeat):
            self._last_heartbeat_sent = time.monotonic()

    def _tick(self) -> bool:
        """Timers: role timers, heartbeats while the session lasts, broker liveness. Returns
        True if a role timer made something for the caller."""
        now = time.monotonic()
        produced = self._run_timers(now)
        hb = self.heartbeat_s
        if now - self._last_recv > self.liveness * hb:
            self._reconnect()
            return produced
        # Unanswered HELLOs are not repeated on the same socket (they would queue up while
        # the broker is away); the liveness rule above reconnects and says HELLO afresh.
        if self.registered and now - self._last_heartbeat_sent >= hb:
            self._send(self._heartbeat())
        return produced

    def _next_timer(self) -> float:
        now = time.monotonic()
        hb = self.heartbeat_s
        due = [self._last_recv + self.liveness * hb]
        if self.registered:
            due.append(self._last_heartbeat_sent + hb)
        role_due = self._next_due()
        if role_due is not None:
            due.append(role_due)
        return max(0.0, min(due) - now)

    def _pump(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for messages; process all that are ready.
        Returns the number of messages processed. Runs timers on the way."""
        if self._socket is None:
            raise SessionError("not connected")
        # Something made by a timer is ready for the caller: take only what has arrived.
        wait = 0.0 if self._tick() else min(max(timeout, 0.0), self._next_timer())
        events = dict(self._poller.poll(math.ceil(wait * 1000)))  # never wake before a timer is due
        handled = 0
        while self._socket is not None and events.get(self._socket):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            handled += 1
            self._last_recv = time.monotonic()
            try:
                msg = p.decode(frames, self.inbound)
            except p.ProtocolError as e:
                # §4.5: peers never send ERROR; just record what the broker got wrong.
                log.warning("%s: bad message from broker: %s", self, e)
                self.bad_messages.append(e)
                continue
            self._dispatch(msg)
            if handled >= 1000:
                break
        self._tick()
        return handled

    def _dispatch(self, msg: p.Message) -> None:
        if isinstance(msg, p.Welcome):
            self.welcome = msg
            self.registered = True
            self._hello_sent_at = None
            self._last_heartbeat_sent = time.monotonic()
            self._on_welcome(msg)
        elif isinstance(msg, p.Heartbeat):
            self.heartbeats_received += 1  # any message counts; nothing else to do
        elif isinstance(msg, p.Error):
            if msg.code == p.ErrorCode.NOT_REGISTERED:
                self.not_registered_count += 1
                # §3.3: MUST send HELLO again. Only once per lost session: errors for
                # messages sent before our HELLO are still in the pipe.
                if self.registered or self._hello_sent_at is None:
                    log.info("%s: notRegistered, sending HELLO again", self)
                    self._send_hello()
            self._on_error(msg)  # §4.5: never reply to ERROR
        elif isinstance(msg, p.Publication):
            self._on_publication(msg)
        else:
            self._handle(msg)
