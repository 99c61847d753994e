"""SLU/1 controller peer: sends ACTIVATE, receives ANSWER."""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple, Union

import zmq

from . import protocol as p
from ._peer import DEFAULT_LIVENESS, DEFAULT_MAX_QUEUED_PUBLICATIONS, PublicationHandler, _Peer


class ActivationRefused(Exception):
    """The broker refused an ACTIVATE with ERROR (for example duplicateActivation)."""

    def __init__(self, error: p.Error):
        super().__init__(f"{error.code_name} for {error.activation_id!r}: {error.reason}")
        self.error = error


class Controller(_Peer):
    """A controller: one DEALER on the broker's controller endpoint.

    ``activate`` sends without waiting; ``receive`` returns answers as they arrive;
    ``invoke`` sends one activation and waits for its answer. Every call that waits also
    runs the session: heartbeats both ways (§4.3) and HELLO again after ERROR
    notRegistered (§3.3). An ACTIVATE that the broker refused with notRegistered was never
    accepted, so it is sent again after the new WELCOME (``resend_refused``).

    Broadcast (§4.13, §4.14, §6.5): ``subscribe`` / ``unsubscribe`` topic prefixes,
    ``publish`` a payload on a topic, and take publications with ``next_publication`` /
    ``poll_publications`` (or an ``on_publication`` callback). Subscriptions are sent again
    after every HELLO.
    """

    inbound = p.Direction.BROKER_TO_CONTROLLER
    outbound = p.Direction.CONTROLLER_TO_BROKER

    def __init__(self, endpoint: str, controller_id: str, *, context: Optional[zmq.Context] = None,
                 liveness: int = DEFAULT_LIVENESS, resend_refused: bool = True,
                 subscriptions: Sequence[str] = (), on_publication: Optional[PublicationHandler] = None,
                 max_queued_publications: int = DEFAULT_MAX_QUEUED_PUBLICATIONS):
        super().__init__(endpoint, context=context, liveness=liveness, subscriptions=subscriptions,
                         on_publication=on_publication, max_queued_publications=max_queued_publications)
        self.controller_id = p.check_id(controller_id, "controller id")
        self.resend_refused = resend_refused
        self._pending: Dict[str, Tuple[p.RoutingHeader, bytes]] = {}
        self._resend: List[str] = []
        self._answers: Deque[p.Answer] = deque()
        self.errors: Deque[p.Error] = deque()  # ERRORs other than notRegistered
        self._ids = itertools.count()
        self._id_prefix = f"{controller_id[:80]}-{os.getpid()}-{int(time.time() * 1000) % 10**9}"

    def __repr__(self) -> str:
        return f"Controller({self.controller_id!r})"

    # ------------------------------------------------------------------ session hooks
    def _hello(self) -> p.Message:
        return p.ControllerHello(self.controller_id)

    def _on_welcome(self, welcome: p.Welcome) -> None:
        resend, self._resend = self._resend, []
        for aid in resend:
            if aid in self._pending:
                header, payload = self._pending[aid]
                self._send(p.Activate(header, payload))

    def _on_error(self, err: p.Error) -> None:
        if err.code == p.ErrorCode.NOT_REGISTERED:
            if self.resend_refused and err.activation_id in self._pending:
                self._resend.append(err.activation_id)
            return
        if err.code != p.ErrorCode.DUPLICATE_ACTIVATION:
            # The activation was refused outright: it will get no ANSWER (§7).
            self._pending.pop(err.activation_id, None)
        self.errors.append(err)

    def _handle(self, msg: p.Message) -> None:
        if isinstance(msg, p.Answer):
            self._pending.pop(msg.activation_id, None)
            self._answers.append(msg)

    # ------------------------------------------------------------------ public API
    @property
    def pending(self) -> int:
        """Activations sent and not answered yet."""
        return len(self._pending)

    def new_activation_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    def header(self, action: str, *, activation_id: Optional[str] = None, namespace: Optional[str] = None,
               **fields) -> p.RoutingHeader:
        """Build a routing header; the namespace defaults to the first segment of ``action``."""
        if namespace is None:
            namespace = action.split("/", 1)[0]
        fields.setdefault("required_tags", ())
        fields["required_tags"] = tuple(fields["required_tags"])
        return p.RoutingHeader(activation_id or self.new_activation_id(), namespace, action, **fields)

    def activate(self, header: p.RoutingHeader, payload: bytes) -> str:
        """Send one ACTIVATE (§4.6). Returns the activation id; its ANSWER comes via
        ``receive`` (or ``invoke``)."""
        msg = p.Activate(header, bytes(payload))
        frames = p.encode(msg)  # validates before anything is recorded
        if self._socket is None:
            self.connect()
        self._pending[header.activation_id] = (header, msg.payload)
        assert self._socket is not None
        self._socket.send_multipart(frames, copy=False)
        return header.activation_id

    def receive(self, timeout: float = 1.0) -> Optional[p.Answer]:
        """The next ANSWER, waiting up to ``timeout`` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        while not self._answers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(remaining)
        return self._answers.popleft()

    def poll(self, timeout: float = 0.0) -> List[p.Answer]:
        """Run the session for up to ``timeout`` seconds (returns early once something
        arrived) and return every ANSWER received so far."""
        if not self._answers:
            self._pump(timeout)
        out = list(self._answers)
        self._answers.clear()
        return out

    def invoke(self, header_or_action: Union[p.RoutingHeader, str], payload: bytes = b"", *,
               timeout: float = 30.0, **fields) -> p.Answer:
        """Send one activation and wait for its ANSWER. Answers for other activations
        that arrive meanwhile stay queued for ``receive``.

        ``header_or_action`` is a RoutingHeader, or an action name plus header ``fields``.
        Raises ActivationRefused on an ERROR for this activation, TimeoutError on timeout.
        """
        if isinstance(header_or_action, p.RoutingHeader):
            header = header_or_action
        else:
            header = self.header(header_or_action, **fields)
        aid = header.activation_id
        seen_errors = len(self.errors)
        self.activate(header, payload)
        deadline = time.monotonic() + timeout
        while True:
            for i, ans in enumerate(self._answers):
                if ans.activation_id == aid:
                    del self._answers[i]
                    return ans
            for err in list(self.errors)[seen_errors:]:
                if err.activation_id == aid:
                    self.errors.remove(err)
                    raise ActivationRefused(err)
            seen_errors = len(self.errors)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer for {aid} within {timeout}s")
            self._pump(remaining)
