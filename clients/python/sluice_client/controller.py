"""SLU/1 controller peer: sends ACTIVATE, receives ANSWER."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import time
from collections import OrderedDict, deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple, Union

import zmq

from . import protocol as p
from ._peer import DEFAULT_LIVENESS, DEFAULT_MAX_QUEUED_PUBLICATIONS, PublicationHandler, _Peer

log = logging.getLogger("sluice_client")

#: The reason of every answer the client makes itself when the broker did not answer in time.
CLIENT_TIMEOUT_REASON = "no answer from the broker in time (client-side timeout)"


def default_answer_timeout(time_limit_ms: int) -> float:
    """The client-side answer timeout, in seconds, for an activation with this time limit when
    ``answer_timeout`` is None: the broker's circuit-breaker deadline with its defaults
    (``max(time limit, 60 s) * 2 + 60 s``, PROTOCOL.md §5) plus 60 s, as the Swift
    ``ControllerClient`` computes it: ``max(time limit, 60 s) * 2 + 120 s``."""
    return max(time_limit_ms / 1000.0, 60.0) * 2 + 120.0


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

    Every accepted activation gets exactly one answer, from the broker or from the client: if
    no ANSWER came within ``answer_timeout`` seconds of ``activate`` (None: per activation
    ``default_answer_timeout(header.time_limit_ms)``; ``math.inf``: never), the controller
    makes an ANSWER of kind TIMEOUT itself (reason ``CLIENT_TIMEOUT_REASON``, no invoker, empty
    result), delivers it like a broker answer, and drops the broker's ANSWER for that
    activation if it comes later (counted in ``late_answers_dropped``). This covers work the
    broker lost, for example in a restart. Activations the broker refuses with an ERROR get
    no answer: they go to ``errors`` as before.

    Broadcast (§4.13, §4.14, §6.5): ``subscribe`` / ``unsubscribe`` topic prefixes,
    ``publish`` a payload on a topic, and take publications with ``next_publication`` /
    ``poll_publications`` (or an ``on_publication`` callback). Subscriptions are sent again
    after every HELLO.
    """

    inbound = p.Direction.BROKER_TO_CONTROLLER
    outbound = p.Direction.CONTROLLER_TO_BROKER

    #: An activation answered by the client-side timer is remembered, so that the broker's late
    #: ANSWER for it is dropped, for ``default_answer_timeout(time limit)`` plus this many
    #: seconds after the timer fired. With the broker's defaults its answer cannot come later:
    #: work waits at most 60 s, a dispatched one is answered by its deadline, and answers for
    #: an absent controller are kept at most 300 s (§6.1, §5, §6.4).
    late_answer_memory: float = 600.0
    #: At most this many such activations are remembered; past it the oldest are forgotten.
    max_remembered_timeouts: int = 100_000

    def __init__(self, endpoint: str, controller_id: str, *, context: Optional[zmq.Context] = None,
                 liveness: int = DEFAULT_LIVENESS, resend_refused: bool = True,
                 subscriptions: Sequence[str] = (), on_publication: Optional[PublicationHandler] = None,
                 max_queued_publications: int = DEFAULT_MAX_QUEUED_PUBLICATIONS,
                 answer_timeout: Optional[float] = None):
        if answer_timeout is not None and not answer_timeout > 0:
            raise ValueError(f"answer_timeout must be > 0 seconds (or None, or math.inf); got {answer_timeout!r}")
        super().__init__(endpoint, context=context, liveness=liveness, subscriptions=subscriptions,
                         on_publication=on_publication, max_queued_publications=max_queued_publications)
        self.controller_id = p.check_id(controller_id, "controller id")
        self.resend_refused = resend_refused
        self.answer_timeout = answer_timeout
        self._pending: Dict[str, Tuple[p.RoutingHeader, bytes]] = {}
        # Client-side answer timer: deadline per pending activation, and a heap of
        # (deadline, id) with stale entries skipped (and compacted when they pile up).
        self._deadlines: Dict[str, float] = {}
        self._timer_heap: List[Tuple[float, str]] = []
        # Activations answered by that timer -> when to forget them (monotonic seconds).
        self._timed_out: "OrderedDict[str, float]" = OrderedDict()
        self._next_forget_scan = 0.0
        self.client_timeouts = 0       # answers made by the client-side timer
        self.late_answers_dropped = 0  # broker ANSWERs dropped because the timer answered first
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
            self._deadlines.pop(err.activation_id, None)
        self.errors.append(err)

    def _handle(self, msg: p.Message) -> None:
        if isinstance(msg, p.Answer):
            aid = msg.activation_id
            if aid in self._timed_out:
                # The client-side timer answered it already: exactly one answer.
                self.late_answers_dropped += 1
                self._on_late_answer(msg)
                return
            self._pending.pop(aid, None)
            self._deadlines.pop(aid, None)
            self._answers.append(msg)

    def _on_late_answer(self, answer: p.Answer) -> None:
        """A broker ANSWER for an activation the client-side timer had answered; dropped."""
        log.debug("%s: dropped the broker's %s answer for %s: the client-side timer answered it",
                 self, answer.kind_name, answer.activation_id)

    # ------------------------------------------------------------------ client-side answer timer
    def answer_timeout_for(self, header: p.RoutingHeader) -> float:
        """Seconds this client waits for the broker's answer to ``header`` before it makes a
        TIMEOUT answer itself."""
        if self.answer_timeout is not None:
            return self.answer_timeout
        return default_answer_timeout(header.time_limit_ms)

    def _next_due(self) -> Optional[float]:
        heap = self._timer_heap
        while heap and self._deadlines.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # answered, refused or timed out already
        return heap[0][0] if heap else None

    def _run_timers(self, now: float) -> bool:
        heap = self._timer_heap
        produced = False
        while heap and heap[0][0] <= now:
            deadline, aid = heapq.heappop(heap)
            if self._deadlines.get(aid) != deadline:
                continue
            del self._deadlines[aid]
            entry = self._pending.pop(aid, None)
            if entry is None:
                continue
            # Remembered as long as the broker might still answer it (see late_answer_memory).
            self._timed_out[aid] = now + default_answer_timeout(entry[0].time_limit_ms) + self.late_answer_memory
            self.client_timeouts += 1
            log.debug("%s: no answer for %s in time, answering it timeout (client-side)", self, aid)
            self._answers.append(p.Answer(aid, int(p.AnswerKind.TIMEOUT), "", CLIENT_TIMEOUT_REASON, b""))
            produced = True
        if len(heap) > 2 * len(self._deadlines) + 1024:
            self._timer_heap = [(d, aid) for aid, d in self._deadlines.items()]
            heapq.heapify(self._timer_heap)
        self._forget_timed_out(now)
        return produced

    def _forget_timed_out(self, now: float) -> None:
        remembered = self._timed_out
        while len(remembered) > self.max_remembered_timeouts:
            remembered.popitem(last=False)
        if remembered and now >= self._next_forget_scan:
            self._next_forget_scan = now + 10.0
            for aid in [aid for aid, forget_at in remembered.items() if forget_at <= now]:
                del remembered[aid]

    # ------------------------------------------------------------------ public API
    @property
    def pending(self) -> int:
        """Activations sent and not answered yet (by the broker or the client-side timer)."""
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
        ``receive`` (or ``invoke``), from the broker or, after ``answer_timeout_for(header)``
        seconds without one, from the client-side timer (kind TIMEOUT)."""
        msg = p.Activate(header, bytes(payload))
        frames = p.encode(msg)  # validates before anything is recorded
        if self._socket is None:
            self.connect()
        aid = header.activation_id
        if aid not in self._deadlines:
            # A second ACTIVATE with a pending id keeps the first one's timer: the broker
            # refuses it (duplicateActivation) and the first one keeps its single answer.
            deadline = time.monotonic() + self.answer_timeout_for(header)
            if not math.isinf(deadline):
                self._deadlines[aid] = deadline
                heapq.heappush(self._timer_heap, (deadline, aid))
        self._timed_out.pop(aid, None)  # the id is pending again: its next answer is delivered
        self._pending[aid] = (header, msg.payload)
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
        ``timeout`` only bounds this wait: an activation whose client-side answer timer fires
        first returns its TIMEOUT answer; after TimeoutError the activation is still pending
        and its answer comes later through ``receive``.
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
