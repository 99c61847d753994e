"""Broadcast (SUBSCRIBE, UNSUBSCRIBE, PUBLISH: §4.13, §4.14, §6.5) between Python peers
through the real broker, plus the client's own subscription bookkeeping against a fake broker.

Every peer here is driven from the test's thread: ``Mesh`` pumps all of them in turn, so
heartbeats keep flowing while a test waits. Every wait is bounded.

SUBSCRIBE has no reply, and a subscriber's SUBSCRIBE and a publisher's PUBLISH travel on
different connections, so a test cannot know when a subscription is in force from the
outside. ``Mesh.barrier(peer)`` makes sure: the peer publishes on its own barrier topic, to
which it subscribed first, and waits for that publication. It comes back only after the broker
has read every SUBSCRIBE / UNSUBSCRIBE the peer sent before it (one connection keeps order).
Barrier publications are filtered out of what the tests count.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional, Set, Union

import pytest

from sluice_client import Controller, Invoker, protocol as p
from sluice_client.protocol import OriginRole

Peer = Union[Controller, Invoker]
BARRIER = "barrier."
WAIT = 5.0


def barrier_topic(peer: Peer) -> str:
    ident = peer.controller_id if isinstance(peer, Controller) else peer.invoker_id
    return BARRIER + ident


class Mesh:
    """Python peers on one broker, pumped round robin from the test's thread."""

    def __init__(self, broker):
        self.broker = broker
        self.peers: List[Peer] = []
        self.got: Dict[int, List[p.Publication]] = {}
        self.barriers_seen: Dict[int, Set[str]] = {}
        self._barriers = 0

    def controller(self, cid: str, *prefixes: str, endpoint: Optional[str] = None, **kw) -> Controller:
        return self._add(Controller(endpoint or self.broker.controller_endpoint, cid, **kw), prefixes)

    def invoker(self, iid: str, *prefixes: str, endpoint: Optional[str] = None, **kw) -> Invoker:
        return self._add(Invoker(endpoint or self.broker.invoker_endpoint, iid, **kw), prefixes)

    def _add(self, peer: Peer, prefixes) -> Peer:
        self.peers.append(peer)
        self.got[id(peer)] = []
        self.barriers_seen[id(peer)] = set()
        peer.subscribe(barrier_topic(peer))  # recorded; goes out right after HELLO
        peer.connect(10.0)
        for prefix in prefixes:
            peer.subscribe(prefix)
        self.barrier(peer)
        return peer

    def received(self, peer: Peer) -> List[p.Publication]:
        return self.got[id(peer)]

    def topics(self, peer: Peer) -> List[str]:
        return [pub.topic for pub in self.received(peer)]

    def pump(self, seconds: float = 0.02) -> None:
        end = time.monotonic() + seconds
        while True:
            for peer in self.peers:
                for pub in peer.poll_publications(0.002):
                    if pub.topic.startswith(BARRIER):
                        self.barriers_seen[id(peer)].add(pub.topic)
                    else:
                        self.got[id(peer)].append(pub)
            if time.monotonic() >= end:
                return

    def wait_until(self, cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
            self.pump()

    def barrier(self, peer: Peer) -> None:
        self._barriers += 1
        topic = f"{barrier_topic(peer)}.{self._barriers}"
        peer.publish(topic, b"")
        self.wait_until(lambda: topic in self.barriers_seen[id(peer)], f"barrier {topic}")

    def settle(self, seconds: float = 0.4) -> None:
        """Pump a while longer, so that any duplicate or stray publication shows up."""
        self.pump(seconds)

    def close(self) -> None:
        for peer in self.peers:
            peer.close()


@pytest.fixture
def mesh_on():
    made: List[Mesh] = []

    def make(broker) -> Mesh:
        m = Mesh(broker)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


@pytest.fixture
def mesh(broker, mesh_on):
    return mesh_on(broker)


def assert_once(mesh: Mesh, peer: Peer, topic: str, payload: bytes, role: int, origin: str) -> None:
    matches = [pub for pub in mesh.received(peer) if pub.topic == topic]
    assert len(matches) == 1, f"{peer} got {topic!r} {len(matches)} times: {mesh.received(peer)}"
    pub = matches[0]
    assert pub.payload == payload, pub
    assert pub.origin_role == role and pub.origin_id == origin, pub


# --------------------------------------------------------------------------- fan-out


def test_publication_reaches_subscribers_on_both_endpoints_exactly_once(mesh):
    publisher = mesh.controller("pub-ctl")  # subscribed to its barrier topic only
    sub_ctl = mesh.controller("sub-ctl", "cache.", "cache.inv")  # two matching prefixes
    sub_inv = mesh.invoker("sub-inv", "", "cache.")  # everything, and a matching prefix
    other = mesh.controller("other-ctl", "events.")
    bare_inv = mesh.invoker("bare-inv")

    payload = b"\x00opaque\xff" + bytes(range(256))  # never parsed: any bytes
    publisher.publish("cache.invalidate.1", payload)
    mesh.wait_until(lambda: mesh.topics(sub_ctl) and mesh.topics(sub_inv), "both subscribers")
    mesh.settle()

    # §6.5: every matching session on either endpoint, once even with several matching prefixes.
    for sub in (sub_ctl, sub_inv):
        assert_once(mesh, sub, "cache.invalidate.1", payload, OriginRole.CONTROLLER, "pub-ctl")
        assert len(mesh.received(sub)) == 1, mesh.received(sub)
    assert mesh.received(other) == [] and mesh.received(bare_inv) == []
    assert mesh.received(publisher) == []  # not subscribed to that topic: nothing comes back

    # An invoker publishes too; the origin says so.
    sub_inv.publish("cache.from-invoker", b"inv-bytes")
    mesh.wait_until(lambda: len(mesh.received(sub_ctl)) == 2, "publication from the invoker")
    mesh.settle()
    assert_once(mesh, sub_ctl, "cache.from-invoker", b"inv-bytes", OriginRole.INVOKER, "sub-inv")
    assert_once(mesh, sub_inv, "cache.from-invoker", b"inv-bytes", OriginRole.INVOKER, "sub-inv")
    assert mesh.received(other) == [] and mesh.received(bare_inv) == []
    assert mesh.received(publisher) == []
    for peer in mesh.peers:
        assert not peer.errors, (peer, list(peer.errors))
        assert peer.publications_dropped == 0


def test_prefix_matching_is_bytewise(mesh):
    publisher = mesh.invoker("pub-inv")
    sub = mesh.controller("sub-ctl", "cache.a", "health")
    everything = mesh.invoker("all-inv", "")

    topics = ["cache.a", "cache.ab", "cache.b", "cache", "cache.A", "healthy", "Health", "health",
              "events", "x" * 64]
    for n, topic in enumerate(topics):
        publisher.publish(topic, str(n).encode())
    mesh.wait_until(lambda: len(mesh.received(everything)) == len(topics), "every topic for prefix ''")
    mesh.settle()

    # Byte-wise prefix match (§4.13), case-sensitive, in the order sent (§6.5: one publisher).
    assert mesh.topics(sub) == ["cache.a", "cache.ab", "healthy", "health"]
    assert mesh.topics(everything) == topics
    assert [pub.payload for pub in mesh.received(everything)] == [str(n).encode() for n in range(len(topics))]
    assert all(pub.origin_role == OriginRole.INVOKER and pub.origin_id == "pub-inv"
               for pub in mesh.received(sub) + mesh.received(everything))


def test_unsubscribe_stops_delivery(mesh):
    publisher = mesh.controller("pub-ctl")
    sub = mesh.invoker("sub-inv", "a.", "b.")
    sub_ctl = mesh.controller("sub-ctl", "")

    publisher.publish("a.1", b"")
    publisher.publish("b.1", b"")
    mesh.wait_until(lambda: len(mesh.received(sub)) == 2, "a.1 and b.1")

    sub.unsubscribe("a.")
    sub.unsubscribe("never-subscribed")  # §4.13: changes nothing, no error
    sub_ctl.unsubscribe("")
    assert sub.subscriptions == (barrier_topic(sub), "b.")
    mesh.barrier(sub)
    mesh.barrier(sub_ctl)
    publisher.publish("a.2", b"")
    publisher.publish("b.2", b"")
    mesh.wait_until(lambda: len(mesh.received(sub)) == 3, "b.2")
    mesh.settle()

    assert mesh.topics(sub) == ["a.1", "b.1", "b.2"]
    assert mesh.topics(sub_ctl) == ["a.1", "b.1"]  # nothing after UNSUBSCRIBE ""
    for peer in mesh.peers:
        assert not peer.errors, (peer, list(peer.errors))


def test_publisher_receives_its_own_publication(mesh):
    ctl = mesh.controller("self-ctl", "self.")
    inv = mesh.invoker("self-inv", "self.")

    ctl.publish("self.ctl", b"from ctl")
    inv.publish("self.inv", b"from inv")
    mesh.wait_until(lambda: len(mesh.received(ctl)) == 2 and len(mesh.received(inv)) == 2, "both publications")
    mesh.settle()

    for peer in (ctl, inv):  # §6.5: "the publisher's own session included"
        assert_once(mesh, peer, "self.ctl", b"from ctl", OriginRole.CONTROLLER, "self-ctl")
        assert_once(mesh, peer, "self.inv", b"from inv", OriginRole.INVOKER, "self-inv")


def test_publications_and_answers_do_not_mix(mesh):
    """A controller gets answers through receive() and publications through
    next_publication(); neither queue sees the other's messages."""
    ctl = mesh.controller("ctl-mixed", "news.")
    ctl.publish("news.1", b"n1")
    assert ctl.receive(0.3) is None  # the publication is not an answer
    pub = ctl.next_publication(WAIT)
    assert pub is not None and pub.topic == "news.1" and pub.payload == b"n1", pub
    assert ctl.next_publication(0.2) is None


# --------------------------------------------------------------------------- limits and errors


@pytest.mark.parametrize("endpoint, hello, inbound, origin", [
    ("controller_endpoint", p.ControllerHello("raw-ctl"), p.Direction.BROKER_TO_CONTROLLER, "raw-ctl"),
    ("invoker_endpoint", p.InvokerHello("raw-inv", 256, 1), p.Direction.BROKER_TO_INVOKER, "raw-inv"),
], ids=["controller", "invoker"])
def test_33rd_subscription_is_oversize(broker, raw_peers, endpoint, hello, inbound, origin):
    """§4.13: a session holds at most 32 prefixes; a SUBSCRIBE beyond that is ERROR oversize
    (§7 code 10) and is ignored. Sent raw: the Python peer refuses a 33rd before sending."""
    raw = raw_peers(getattr(broker, endpoint), inbound)
    raw.send(p.encode(hello))
    assert isinstance(raw.recv(), p.Welcome)
    for n in range(32):
        raw.send(p.encode(p.Subscribe(f"p{n:02d}")))
    raw.send(p.encode(p.Subscribe("p00")))  # already held: changes nothing, not a 33rd
    raw.send(p.encode(p.Subscribe("p32")))  # the 33rd
    err = raw.recv()
    assert isinstance(err, p.Error), err
    assert err.code == p.ErrorCode.OVERSIZE == 10, err
    assert err.activation_id == "", err

    # The 33rd was ignored, the first 32 (and only those) stand. One connection keeps order,
    # so p31.x coming back means p32.x (sent first) was not delivered.
    raw.send(p.encode(p.Publish("p32.x", b"")))
    raw.send(p.encode(p.Publish("p31.x", b"")))
    pub = raw.recv()
    assert isinstance(pub, p.Publication) and pub.topic == "p31.x", pub
    assert pub.origin_id == origin, pub

    # Room again after an UNSUBSCRIBE.
    raw.send(p.encode(p.Unsubscribe("p00")))
    raw.send(p.encode(p.Subscribe("p32")))
    raw.send(p.encode(p.Publish("p32.y", b"")))
    pub = raw.recv()
    assert isinstance(pub, p.Publication) and pub.topic == "p32.y", pub
    assert raw.try_recv(0.3) is None


def test_bad_topics_get_errors(broker, raw_peers):
    """§3.2: topics and prefixes outside [A-Za-z0-9._-]{0|1..64} are invalidId; §3.3: before
    HELLO they are notRegistered; §4: SUBSCRIBE without its frame is malformed."""
    raw = raw_peers(broker.invoker_endpoint, p.Direction.BROKER_TO_INVOKER)
    sig = p.SIGNATURE
    raw.send([sig, b"\x30", b"\x01a"])
    err = raw.recv()
    assert isinstance(err, p.Error) and err.code == p.ErrorCode.NOT_REGISTERED, err
    raw.send([sig, b"\x32", b"\x01a", b""])
    err = raw.recv()
    assert isinstance(err, p.Error) and err.code == p.ErrorCode.NOT_REGISTERED, err

    raw.send(p.encode(p.InvokerHello("raw-inv-bad", 256, 1)))
    assert isinstance(raw.recv(), p.Welcome)
    cases = [
        ([sig, b"\x30", b"\x03a b"], p.ErrorCode.INVALID_ID),
        ([sig, b"\x30", bytes([65]) + b"x" * 65], p.ErrorCode.INVALID_ID),
        ([sig, b"\x31", b"\x03a/b"], p.ErrorCode.INVALID_ID),
        ([sig, b"\x32", b"\x00", b""], p.ErrorCode.INVALID_ID),
        ([sig, b"\x32", bytes([65]) + b"t" * 65, b""], p.ErrorCode.INVALID_ID),
        ([sig, b"\x30"], p.ErrorCode.MALFORMED),
        ([sig, b"\x32", b"\x01t"], p.ErrorCode.MALFORMED),
        ([sig, b"\x30", b"\x01a\x00"], p.ErrorCode.MALFORMED),
    ]
    for frames, code in cases:
        raw.send(frames)
        err = raw.recv()
        assert isinstance(err, p.Error) and err.code == code, (frames, err)


# --------------------------------------------------------------------------- sessions


def test_subscriptions_survive_a_broker_restart(start_broker, mesh_on):
    """§4.13: a new session has no subscriptions; the client sends its SUBSCRIBEs again
    after the HELLO it sends on ERROR notRegistered."""
    first = start_broker()
    mesh = mesh_on(first)
    publisher = mesh.controller("pub-restart")
    sub_ctl = mesh.controller("sub-ctl-restart", "cache.")
    sub_inv = mesh.invoker("sub-inv-restart", "cache.")
    publisher.publish("cache.before", b"1")
    mesh.wait_until(lambda: mesh.topics(sub_ctl) == ["cache.before"] == mesh.topics(sub_inv), "before restart")
    hellos = {id(peer): peer.hello_count for peer in mesh.peers}
    subscribes = {id(peer): peer.subscribe_count for peer in mesh.peers}
    first.stop()

    # Same ports, new broker process, which knows no session and no subscription.
    start_broker(controller_endpoint=first.controller_endpoint, invoker_endpoint=first.invoker_endpoint)
    mesh.wait_until(lambda: all(peer.registered and peer.hello_count > hellos[id(peer)] for peer in mesh.peers),
                    "every peer welcomed again", timeout=10.0)
    for peer in mesh.peers:
        mesh.barrier(peer)
    publisher.publish("cache.after", b"2")
    mesh.wait_until(lambda: len(mesh.received(sub_ctl)) == 2 and len(mesh.received(sub_inv)) == 2,
                    "after restart")
    mesh.settle()

    for sub in (sub_ctl, sub_inv):
        assert mesh.topics(sub) == ["cache.before", "cache.after"]
        assert_once(mesh, sub, "cache.after", b"2", OriginRole.CONTROLLER, "pub-restart")
        # Re-registered through ERROR notRegistered, not through the liveness fallback,
        # and every prefix (barrier topic and cache.) was sent again.
        assert sub.not_registered_count >= 1 and sub.reconnects == 0
        assert sub.subscribe_count >= subscribes[id(sub)] + 2
    assert mesh.received(publisher) == []


def test_subscriptions_survive_goodbye_and_connect(mesh):
    publisher = mesh.invoker("pub-inv")
    sub = mesh.controller("sub-ctl", "t.")
    sub.close()  # GOODBYE ends the session and its subscriptions; the client keeps its list
    assert sub.subscriptions == (barrier_topic(sub), "t.")
    # GOODBYE and the next PUBLISH travel on different connections: give GOODBYE time to land
    # so the publication below really has no subscriber.
    time.sleep(0.3)
    publisher.publish("t.missed", b"")  # nobody subscribed: counted by the broker, not refused
    # The publisher's own barrier travels behind t.missed on its connection: once it is back,
    # the broker has handled t.missed. Without this, t.missed could reach the broker after the
    # new session's SUBSCRIBE (different connections, no order between them) and be delivered.
    mesh.barrier(publisher)
    sub.connect(10.0)
    mesh.barrier(sub)
    publisher.publish("t.after", b"")
    mesh.wait_until(lambda: "t.after" in mesh.topics(sub), "t.after")
    mesh.settle(0.2)
    assert mesh.topics(sub) == ["t.after"]


def test_invoker_serving_with_a_publication_callback(broker, py_invokers, mesh):
    """An Invoker in ``serve`` gets publications through ``on_publication`` (its own
    thread), while it keeps answering dispatches."""
    got: List[p.Publication] = []
    inv = py_invokers(broker.invoker_endpoint, "cb-inv", lambda d: b"ok", subscriptions=("health.",),
                      on_publication=got.append)
    ctl = mesh.controller("cb-ctl")
    # The invoker thread's SUBSCRIBE has no reply, so publish until one arrives, then check.
    deadline = time.monotonic() + WAIT
    sent = 0
    while not got:
        assert time.monotonic() < deadline, "no publication reached the callback"
        ctl.publish("health.ping", str(sent).encode())
        sent += 1
        mesh.pump(0.05)
    ans = ctl.invoke("guest/hello", b"", timeout=10)
    assert ans.ok and ans.result == b"ok", ans
    first = got[0]
    assert first.topic == "health.ping" and first.origin_id == "cb-ctl", first
    assert first.origin_role == OriginRole.CONTROLLER
    inv.check()
    assert inv.invoker.publications == type(inv.invoker.publications)()  # callback, not queue
    assert len(got) <= sent


# --------------------------------------------------------------------------- session boundaries
# Both found broker bugs when first written (subscriptions keyed by routing id alone; a replaced
# controller connection kept its subscriptions); the broker now follows the spec.


def test_sessions_on_the_two_endpoints_do_not_share_subscriptions(broker, raw_peers):
    """§4.13 / §6.5: subscriptions belong to the session. A controller connection and an invoker
    connection are different sessions even when their DEALERs carry the same routing id (the
    routing id is not part of SLU/1, §2; libzmq numbers each ROUTER's peers independently)."""
    ctl = raw_peers(broker.controller_endpoint, p.Direction.BROKER_TO_CONTROLLER, routing_id=b"same-id")
    inv = raw_peers(broker.invoker_endpoint, p.Direction.BROKER_TO_INVOKER, routing_id=b"same-id")
    ctl.send(p.encode(p.ControllerHello("ctl-same")))
    assert isinstance(ctl.recv(), p.Welcome)
    ctl.send(p.encode(p.Subscribe("x.")))
    ctl.send(p.encode(p.Publish("x.0", b"")))  # barrier: the subscription is in force
    assert ctl.recv().topic == "x.0"
    inv.send(p.encode(p.InvokerHello("inv-same", 64, 1)))  # a new session, on the other endpoint
    assert isinstance(inv.recv(), p.Welcome)
    inv.send(p.encode(p.Publish("x.1", b"from-invoker")))
    pub = ctl.try_recv(2.0)
    assert isinstance(pub, p.Publication) and pub.topic == "x.1", \
        f"the controller session lost its subscription to the invoker's HELLO: {pub}"
    assert pub.origin_role == OriginRole.INVOKER and pub.origin_id == "inv-same"


def test_replaced_controller_connection_gets_no_publications(broker, raw_peers):
    """§3.3: a second HELLO with the same id from a new connection replaces the old connection;
    the old connection has no session any more (it gets ERROR notRegistered), and §6.5 sends
    publications to sessions only. The new session starts with no subscriptions (§4.13)."""
    old = raw_peers(broker.controller_endpoint, p.Direction.BROKER_TO_CONTROLLER)
    old.send(p.encode(p.ControllerHello("ctl-dup")))
    assert isinstance(old.recv(), p.Welcome)
    old.send(p.encode(p.Subscribe("z.")))
    old.send(p.encode(p.Publish("z.0", b"")))
    assert old.recv().topic == "z.0"
    new = raw_peers(broker.controller_endpoint, p.Direction.BROKER_TO_CONTROLLER)
    new.send(p.encode(p.ControllerHello("ctl-dup")))
    assert isinstance(new.recv(), p.Welcome)
    new.send(p.encode(p.Publish("z.1", b"")))
    assert new.try_recv(0.5) is None  # the new session has no subscriptions (broker agrees)
    stray = old.try_recv(1.0)
    assert stray is None, f"the replaced connection, which has no session, still got {stray}"


# --------------------------------------------------------------------------- client bookkeeping
# A fake broker (a ROUTER in the test) shows exactly what the client sends and when.


# (FakeBroker and the fake_broker fixture are in conftest.py.)


@pytest.mark.parametrize("role", ["controller", "invoker"])
def test_client_sends_subscriptions_after_every_hello(fake_broker, role):
    if role == "controller":
        peer: Peer = Controller(fake_broker.endpoint, "fake-ctl", subscriptions=("a.", ""))
        up, hello_type = p.Direction.CONTROLLER_TO_BROKER, p.ControllerHello
    else:
        peer = Invoker(fake_broker.endpoint, "fake-inv", subscriptions=("a.", ""))
        up, hello_type = p.Direction.INVOKER_TO_BROKER, p.InvokerHello
    try:
        assert peer.subscriptions == ("a.", "")
        peer._open()  # HELLO goes out; the subscriptions follow it on the same socket
        assert isinstance(fake_broker.recv(up), hello_type)
        assert fake_broker.recv(up) == p.Subscribe("a.")
        assert fake_broker.recv(up) == p.Subscribe("")
        fake_broker.send(p.Welcome("fake", 1000, 1 << 20))
        peer.poll_publications(0.2)
        assert peer.registered

        peer.subscribe("b.")
        peer.subscribe("a.")  # held already: not sent again
        peer.unsubscribe("")
        assert fake_broker.recv(up) == p.Subscribe("b.")
        assert fake_broker.recv(up) == p.Unsubscribe("")
        peer.publish("b.x", b"payload")
        assert fake_broker.recv(up) == p.Publish("b.x", b"payload")

        # The broker lost the session: ERROR notRegistered -> HELLO, then every prefix again.
        fake_broker.send(p.Error(p.ErrorCode.NOT_REGISTERED, "", "send HELLO"))
        peer.poll_publications(0.2)
        assert isinstance(fake_broker.recv(up), hello_type)
        assert fake_broker.recv(up) == p.Subscribe("a.")
        assert fake_broker.recv(up) == p.Subscribe("b.")
        fake_broker.nothing(up)
        assert peer.subscribe_count == 5

        # Publications from the broker come out of next_publication, in order.
        fake_broker.send(p.Welcome("fake", 1000, 1 << 20))
        fake_broker.send(p.Publication("b.1", OriginRole.INVOKER, "someone", b"\x00"))
        fake_broker.send(p.Publication("a.1", OriginRole.CONTROLLER, "else", b""))
        first = peer.next_publication(WAIT)
        second = peer.next_publication(WAIT)
        assert first == p.Publication("b.1", 1, "someone", b"\x00")
        assert second == p.Publication("a.1", 0, "else", b"")
        assert peer.next_publication(0.05) is None
        assert peer.publications_received == 2
    finally:
        peer.close(goodbye=False)


def test_client_checks_prefixes_and_the_limit_locally():
    ctl = Controller("tcp://127.0.0.1:1", "offline-ctl")  # never connected: nothing is sent
    for n in range(32):
        ctl.subscribe(f"p{n}")
    ctl.subscribe("p0")  # held already: fine
    with pytest.raises(p.ProtocolError) as info:
        ctl.subscribe("p32")
    assert info.value.code == p.ErrorCode.OVERSIZE
    ctl.unsubscribe("p0")
    ctl.subscribe("p32")  # room again
    assert len(ctl.subscriptions) == 32 and ctl.subscriptions[-1] == "p32"
    for bad in ("a b", "x" * 65, "é", "a/b"):
        with pytest.raises(p.ProtocolError) as info:
            ctl.subscribe(bad)
        assert info.value.code == p.ErrorCode.INVALID_ID
    for bad in ("", "t" * 65, "a b"):
        with pytest.raises(p.ProtocolError) as info:
            ctl.publish(bad, b"")  # refused before trying to connect
        assert info.value.code == p.ErrorCode.INVALID_ID
    assert ctl.subscribe_count == 0


def test_publication_queue_is_bounded_and_callback_errors_are_contained():
    inv = Invoker("tcp://127.0.0.1:1", "offline-inv", max_queued_publications=2)
    for n in range(3):
        inv._dispatch(p.Publication(f"t{n}", 0, "c", b""))
    assert [pub.topic for pub in inv.publications] == ["t0", "t1"]
    assert inv.publications_dropped == 1 and inv.publications_received == 3

    def boom(pub):
        raise RuntimeError("callback bug")
    inv.on_publication = boom
    inv._dispatch(p.Publication("t3", 0, "c", b""))
    assert inv.publication_handler_errors == 1
