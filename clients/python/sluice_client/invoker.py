"""SLU/1 invoker peer: receives DISPATCH, sends RESULT / COMPLETION."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from typing import Callable, Deque, Dict, Optional, Sequence, Tuple, Union

import zmq

from . import protocol as p
from ._peer import DEFAULT_LIVENESS, DEFAULT_MAX_QUEUED_PUBLICATIONS, PublicationHandler, _Peer

# What a handler may return: the result bytes (outcome success), (outcome, bytes), or a
# ready Completion (for full control: system-error flag, warm report, no result...).
HandlerReturn = Union[bytes, Tuple[int, bytes], p.Completion]
Handler = Callable[[p.Dispatch], HandlerReturn]


class Invoker(_Peer):
    """An invoker: one DEALER on the broker's invoker endpoint.

    With a ``handler``, every DISPATCH is run synchronously in the peer's thread and
    answered with one combined COMPLETION (flag bit 0), or RESULT then COMPLETION when
    ``split_result`` is set. Without one, dispatches queue up for ``next_dispatch`` and
    the caller answers them with ``complete`` / ``send_result``.
    A handler that raises is answered as a system error (outcome 2, flag bit 1).

    Broadcast (§4.13, §4.14, §6.5) works as for a Controller: ``subscribe``, ``unsubscribe``,
    ``publish``, and ``next_publication`` / ``poll_publications``, or an ``on_publication``
    callback, which suits ``serve`` (it runs in the peer's thread).
    """

    inbound = p.Direction.BROKER_TO_INVOKER
    outbound = p.Direction.INVOKER_TO_BROKER

    def __init__(self, endpoint: str, invoker_id: str, handler: Optional[Handler] = None, *,
                 memory_mb: int = 2048, slots: int = 8, tags: Sequence[str] = (),
                 dedicated_namespaces: Sequence[str] = (), split_result: bool = False,
                 warm_report: Optional[Sequence[p.WarmEntry]] = None,
                 context: Optional[zmq.Context] = None, liveness: int = DEFAULT_LIVENESS,
                 subscriptions: Sequence[str] = (), on_publication: Optional[PublicationHandler] = None,
                 max_queued_publications: int = DEFAULT_MAX_QUEUED_PUBLICATIONS):
        super().__init__(endpoint, context=context, liveness=liveness, subscriptions=subscriptions,
                         on_publication=on_publication, max_queued_publications=max_queued_publications)
        self.hello_message = p.InvokerHello(invoker_id, memory_mb, slots, tuple(tags),
                                            tuple(dedicated_namespaces))
        p.encode(self.hello_message)  # validate now, not on first connect
        self.invoker_id = invoker_id
        self.handler = handler
        self.split_result = split_result
        self.warm_report: Optional[p.WarmReport] = tuple(warm_report) if warm_report is not None else None
        self.dispatches: Deque[p.Dispatch] = deque()
        self.in_flight: Dict[str, p.Dispatch] = {}
        self.errors: Deque[p.Error] = deque(maxlen=1000)
        self.handled = 0

    def __repr__(self) -> str:
        return f"Invoker({self.invoker_id!r})"

    # ------------------------------------------------------------------ session hooks
    def _hello(self) -> p.Message:
        return self.hello_message

    def _heartbeat(self) -> p.Heartbeat:
        return p.Heartbeat(self.warm_report)  # §4.12: the report rides on HEARTBEAT

    def _on_welcome(self, welcome: p.Welcome) -> None:
        # A new session (first, or after a broker restart): the broker knows nothing of
        # what we still hold, so completions for it would only be unknownActivation.
        self.in_flight.clear()

    def _on_error(self, err: p.Error) -> None:
        if err.code != p.ErrorCode.NOT_REGISTERED:
            self.errors.append(err)

    def _handle(self, msg: p.Message) -> None:
        if not isinstance(msg, p.Dispatch):
            return
        self.in_flight[msg.header.activation_id] = msg
        if self.handler is None:
            self.dispatches.append(msg)
            return
        try:
            ret = self.handler(msg)
        except Exception as exc:  # the action failed in the platform: a system error
            ret = p.Completion(msg.header.activation_id, p.Outcome.SYSTEM_ERROR,
                               f"handler raised {exc!r}".encode(), system_error=True)
        self.handled += 1
        if isinstance(ret, p.Completion):
            self._complete(ret)
        elif isinstance(ret, tuple):
            self.complete(msg.header.activation_id, ret[1], outcome=ret[0])
        else:
            self.complete(msg.header.activation_id, ret)

    # ------------------------------------------------------------------ public API
    def poll(self, timeout: float = 0.1) -> int:
        """Run the session for up to ``timeout`` seconds; returns messages handled."""
        if self._socket is None:
            self.connect()
        return self._pump(timeout)

    def serve(self, stop: Optional[threading.Event] = None, duration: Optional[float] = None,
              connect_timeout: float = 10.0) -> None:
        """Connect (if needed) and handle dispatches until ``stop`` is set or ``duration``
        seconds passed; then say GOODBYE and close."""
        end = None if duration is None else time.monotonic() + duration
        try:
            if self._socket is None:
                self.connect(connect_timeout)
            while not (stop is not None and stop.is_set()):
                if end is not None and time.monotonic() >= end:
                    break
                self._pump(0.05)
        finally:
            self.close()

    def next_dispatch(self, timeout: float = 1.0) -> Optional[p.Dispatch]:
        """Without a handler: the next DISPATCH, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.dispatches:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.poll(remaining)
        return self.dispatches.popleft()

    def send_result(self, activation_id: str, result: bytes, outcome: int = p.Outcome.SUCCESS) -> None:
        """RESULT (§4.10): the answer goes out; the slot stays busy until ``complete``."""
        self._send(p.Result(activation_id, outcome, bytes(result)))

    def complete(self, activation_id: str, result: Optional[bytes] = None,
                 outcome: int = p.Outcome.SUCCESS, *, system_error: Optional[bool] = None,
                 warm_report: Optional[Sequence[p.WarmEntry]] = None) -> None:
        """Free the slot (§4.11). With ``result`` (and not ``split_result``) this is the
        combined form; with ``split_result`` a RESULT goes first, then a bare COMPLETION.
        ``system_error`` defaults to ``outcome == systemError``."""
        if system_error is None:
            system_error = outcome == p.Outcome.SYSTEM_ERROR
        report = tuple(warm_report) if warm_report is not None else None
        if result is not None and self.split_result:
            self.send_result(activation_id, result, outcome)
            self._complete(p.Completion(activation_id, p.Outcome.SUCCESS, None, system_error, report))
        else:
            self._complete(p.Completion(activation_id, outcome if result is not None else p.Outcome.SUCCESS,
                                        None if result is None else bytes(result), system_error, report))

    def set_capacity(self, memory_mb: int, slots: int) -> None:
        """CAPACITY (§4.8): new totals; ``0, 0`` drains. Later HELLOs (after a reconnect or a
        broker restart) announce the new totals too, so a drain survives them (§4.1)."""
        capacity = p.Capacity(memory_mb, slots)
        p.encode(capacity)  # validate before anything changes
        self.hello_message = dataclasses.replace(self.hello_message, memory_mb=memory_mb, slots=slots)
        self._send(capacity)

    def set_warm_report(self, report: Optional[Sequence[p.WarmEntry]], send_now: bool = True) -> None:
        """Replace the warm report (§4.12); sent now and on every later HEARTBEAT."""
        self.warm_report = tuple(report) if report is not None else None
        if send_now and self.registered:
            self._send(p.Heartbeat(self.warm_report))

    def _complete(self, completion: p.Completion) -> None:
        self.in_flight.pop(completion.activation_id, None)
        self._send(completion)
