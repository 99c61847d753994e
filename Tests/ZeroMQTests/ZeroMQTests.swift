import Dispatch
import Testing
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Behaviour of the ZeroMQ wrapper against the real libzmq (Debian 4.3.4).
//
// Every test makes its own context, so inproc names never collide between tests running in
// parallel. TCP endpoints are always `tcp://127.0.0.1:*` (the port is read back). Nothing
// sleeps to synchronise: waits are `ZMQPoller` polls with a bounded timeout, so a test that
// goes wrong fails after at most about a second instead of hanging.

// MARK: - Helpers

/// Upper bound for waiting on something that should happen within milliseconds.
private let readyTimeout = 1000

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A deterministic non-trivial payload (not all one byte value, so truncation or
/// reordering shows).
private func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 251) } }

/// Polls `socket` alone for readability; true if it became readable within the timeout.
private func waitReadable(_ socket: ZMQSocket, timeoutMilliseconds: Int = readyTimeout) throws -> Bool {
    var poller = ZMQPoller()
    let index = poller.add(socket)
    let ready = try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
    return ready > 0 && poller.isReadable(index)
}

/// Waits (bounded) for the next multipart message on `socket` and receives it.
private func nextMessage(
    _ socket: ZMQSocket, timeoutMilliseconds: Int = readyTimeout,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> [ZMQMessage] {
    try #require(
        try waitReadable(socket, timeoutMilliseconds: timeoutMilliseconds),
        "socket did not become readable within \(timeoutMilliseconds) ms", sourceLocation: sourceLocation)
    return try #require(
        try socket.receiveMultipart(flags: .dontWait),
        "poll said readable but a non-blocking receive found nothing", sourceLocation: sourceLocation)
}

/// Receives every message arriving on `socket` during `milliseconds` (bounded by polling).
private func collect(_ socket: ZMQSocket, forMilliseconds milliseconds: Int) throws -> [[ZMQMessage]] {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: .milliseconds(milliseconds))
    var poller = ZMQPoller()
    let index = poller.add(socket)
    var received: [[ZMQMessage]] = []
    while true {
        let remaining = clock.now.duration(to: deadline)
        if remaining <= .zero { break }
        let wait = max(1, Int((remaining / .milliseconds(1)).rounded(.up)))
        _ = try poller.poll(timeoutMilliseconds: wait)
        if poller.isReadable(index) {
            while let frames = try socket.receiveMultipart(flags: .dontWait) {
                received.append(frames)
            }
        }
    }
    return received
}

/// A bound/connected inproc PAIR couple in `context`.
private func pairSockets(_ context: ZMQContext, name: String) throws -> (bound: ZMQSocket, connected: ZMQSocket) {
    let bound = try ZMQSocket(context, type: .pair)
    try bound.bind("inproc://\(name)")
    let connected = try ZMQSocket(context, type: .pair)
    try connected.connect("inproc://\(name)")
    return (bound, connected)
}

/// The port number at the end of a resolved TCP endpoint, or nil.
private func port(of endpoint: String) -> Int? {
    guard let colon = endpoint.lastIndex(of: ":") else { return nil }
    return Int(endpoint[endpoint.index(after: colon)...])
}

private func milliseconds(_ duration: Duration) -> Double { duration / .milliseconds(1) }

/// Polls once and snapshots the result: `ZMQPoller` is `~Copyable`, so `#expect` cannot
/// capture it directly.
private func pollOnce(
    _ poller: inout ZMQPoller, timeoutMilliseconds: Int, _ indexes: Int...
) throws -> (ready: Int, readable: [Bool]) {
    let ready = try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
    return (ready, indexes.map { poller.isReadable($0) })
}

// MARK: - Messages over inproc

@Suite("ZeroMQ wrapper")
struct ZeroMQTests {
    @Test("inproc PAIR carries a 3-frame multipart message intact, with hasMore on all but the last")
    func pairMultipartRoundTrip() throws {
        let context = try ZMQContext()
        let (a, b) = try pairSockets(context, name: "pair-multipart")
        let payloads: [[UInt8]] = [bytes("alpha"), [], pattern(300)]

        // As one multipart message: frames are moved into libzmq, so the sent messages are empty.
        let outgoing = payloads.map { ZMQMessage(bytes: $0) }
        try a.send(multipart: outgoing)
        #expect(outgoing.map(\.count) == [0, 0, 0], "send(multipart:) moves the frames")

        let frames = try nextMessage(b)
        #expect(frames.count == 3)
        #expect(frames.map(\.bytes) == payloads)
        #expect(frames.map(\.hasMore) == [true, true, false])
        #expect(frames.map(\.count) == [5, 0, 300])

        // The other way, received frame by frame with receive(into:).
        try b.send(bytes: payloads[0], flags: .sendMore)
        try b.send(bytes: payloads[1], flags: .sendMore)
        try b.send(bytes: payloads[2])
        try #require(try waitReadable(a))
        var seen: [[UInt8]] = []
        var more: [Bool] = []
        for _ in 0..<3 {
            let frame = ZMQMessage()
            #expect(try a.receive(into: frame, flags: .dontWait))
            seen.append(frame.bytes)
            more.append(frame.hasMore)
        }
        #expect(seen == payloads)
        #expect(more == [true, true, false])
        // Nothing beyond the three frames.
        #expect(try a.receiveMultipart(flags: .dontWait) == nil)
        withExtendedLifetime(b) {}  // keep the sender open until everything was read
    }

    @Test("a received message sent on again arrives intact and is empty after the send",
          arguments: [5, 33, 34, 1000, 70_000])
    func zeroCopyForwarding(size: Int) throws {
        let context = try ZMQContext()
        let (producer, forwarderIn) = try pairSockets(context, name: "forward-in")
        let (forwarderOut, consumer) = try pairSockets(context, name: "forward-out")
        let payload = pattern(size)

        try producer.send(bytes: payload)
        try #require(try waitReadable(forwarderIn))
        let message = ZMQMessage()
        #expect(try forwarderIn.receive(into: message, flags: .dontWait))
        #expect(message.count == size)
        #expect(message.bytes == payload)

        try forwarderOut.send(message)
        #expect(message.count == 0, "a successful send leaves the message empty")
        #expect(message.bytes.isEmpty)

        let forwarded = try nextMessage(consumer)
        #expect(forwarded.count == 1)
        #expect(forwarded.first?.bytes == payload)
        #expect(forwarded.first?.hasMore == false)

        // The emptied message is reusable for the next receive.
        try producer.send(bytes: bytes("again"))
        try #require(try waitReadable(forwarderIn))
        #expect(try forwarderIn.receive(into: message, flags: .dontWait))
        #expect(message.bytes == bytes("again"))
        withExtendedLifetime((forwarderOut, consumer)) {}
    }

    @Test("a non-blocking receive on an empty socket returns nil / false instead of throwing")
    func dontWaitReceiveOnEmptySocket() throws {
        let context = try ZMQContext()
        let (a, b) = try pairSockets(context, name: "empty")

        #expect(try a.receiveMultipart(flags: .dontWait) == nil)
        let message = ZMQMessage()
        #expect(try a.receive(into: message, flags: .dontWait) == false)
        #expect(message.count == 0)
        #expect(a.isReadable == false)

        // An unconnected socket behaves the same.
        let lonely = try ZMQSocket(context, type: .dealer)
        #expect(try lonely.receiveMultipart(flags: .dontWait) == nil)
        #expect(try lonely.receive(into: ZMQMessage(), flags: .dontWait) == false)

        // Once something is sent it is readable, and after taking it the socket is empty again.
        try b.send(bytes: bytes("x"))
        try #require(try waitReadable(a))
        #expect(a.isReadable)
        #expect(try a.receiveMultipart(flags: .dontWait)?.map(\.bytes) == [bytes("x")])
        #expect(a.isReadable == false)
        #expect(try a.receiveMultipart(flags: .dontWait) == nil)
        withExtendedLifetime(b) {}
    }

    @Test("a non-blocking send with no peer throws wouldBlock and keeps the message's bytes")
    func dontWaitSendWithoutPeer() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, type: .dealer)
        let message = ZMQMessage(bytes: bytes("kept"))
        let error = try #require(throws: ZMQError.self) {
            try dealer.send(message, flags: .dontWait)
        }
        #expect(error.wouldBlock)
        #expect(error.errno == EAGAIN)
        #expect(!error.hostUnreachable)
        #expect(message.bytes == bytes("kept"), "a failed send leaves the message's content in place")
    }

    // MARK: - ROUTER / DEALER over TCP

    @Test("ROUTER on tcp://127.0.0.1:* reports a real port; DEALER's routing id reaches it and the reply comes back")
    func routerDealerOverTCP() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.setRouterMandatory(true)  // a wrong routing id in the reply then throws
        try router.bind("tcp://127.0.0.1:*")

        let endpoint = try router.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(!endpoint.contains("*"), "lastEndpoint must resolve the wildcard port: \(endpoint)")
        let boundPort = try #require(port(of: endpoint), "no numeric port in \(endpoint)")
        #expect((1...65535).contains(boundPort))

        let routingID = bytes("dealer-7")
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.setRoutingID(routingID)
        try dealer.connect(endpoint)
        try dealer.send(bytes: bytes("ping"))

        let request = try nextMessage(router)
        try #require(request.count == 2)
        #expect(request[0].bytes == routingID)
        #expect(request[0].hasMore)
        #expect(request[1].bytes == bytes("ping"))
        #expect(!request[1].hasMore)

        // Reply by forwarding the received routing-id frame itself.
        try router.send(multipart: [request[0], ZMQMessage(bytes: bytes("pong"))], flags: .dontWait)
        let reply = try nextMessage(dealer)
        #expect(reply.map(\.bytes) == [bytes("pong")])
        #expect(try dealer.receiveMultipart(flags: .dontWait) == nil)
    }

    @Test("routerMandatory: sending to an unknown routing id throws EHOSTUNREACH with libzmq's text")
    func routerMandatoryUnknownPeer() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.setRouterMandatory(true)
        try router.bind("inproc://mandatory")

        let id = ZMQMessage(bytes: bytes("nobody"))
        let payload = ZMQMessage(bytes: bytes("lost"))
        let error = try #require(throws: ZMQError.self) {
            try router.send(multipart: [id, payload], flags: .dontWait)
        }
        #expect(error.hostUnreachable)
        #expect(error.errno == EHOSTUNREACH)
        #expect(!error.wouldBlock)
        #expect(!error.message.isEmpty)
        // libzmq has its own text for EHOSTUNREACH ("Host unreachable"), not glibc's.
        #expect(error.message.lowercased().contains("unreachable"), "libzmq's text: \(error.message)")
        #expect(error.description.contains("zmq_msg_send"), "description names the operation: \(error.description)")
        #expect(error.description.contains(error.message))
        // Nothing went out: both frames keep their content for a retry.
        #expect(id.bytes == bytes("nobody"))
        #expect(payload.bytes == bytes("lost"))

        // The failure left the socket in a clean state: a real peer still gets exactly its reply.
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.setRoutingID(bytes("known"))
        try dealer.connect("inproc://mandatory")
        try dealer.send(bytes: bytes("hello"))
        let hello = try nextMessage(router)
        #expect(hello.map(\.bytes) == [bytes("known"), bytes("hello")])
        try router.send(multipart: [ZMQMessage(bytes: bytes("known")), ZMQMessage(bytes: bytes("reply"))], flags: .dontWait)
        #expect(try nextMessage(dealer).map(\.bytes) == [bytes("reply")])
    }

    @Test("without routerMandatory a ROUTER silently drops messages to unknown routing ids")
    func routerWithoutMandatoryDropsSilently() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.bind("inproc://not-mandatory")
        try router.send(multipart: [ZMQMessage(bytes: bytes("nobody")), ZMQMessage(bytes: bytes("lost"))], flags: .dontWait)
    }

    // MARK: - Options

    @Test("options read back: linger (0 by default from the wrapper), HWMs, max message size")
    func optionsReadBack() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .dealer)

        #expect(try socket.linger == 0, "the wrapper sets linger 0 at creation (libzmq's default is -1)")
        try socket.setLinger(milliseconds: 250)
        #expect(try socket.linger == 250)

        try socket.setSendHighWaterMark(17)
        try socket.setReceiveHighWaterMark(23)
        #expect(try socket.sendHighWaterMark == 17)
        #expect(try socket.receiveHighWaterMark == 23)
        try socket.setSendHighWaterMark(0)
        #expect(try socket.sendHighWaterMark == 0)

        #expect(try socket.maxMessageSize == -1, "libzmq's default: no limit")
        try socket.setMaxMessageSize(1024)
        #expect(try socket.maxMessageSize == 1024)
        // The option is 64-bit: a value above Int32.max must survive.
        try socket.setMaxMessageSize(5_000_000_000)
        #expect(try socket.maxMessageSize == 5_000_000_000)

        // Linger is per socket: a new socket starts at the wrapper's 0 again.
        let other = try ZMQSocket(context, type: .router)
        #expect(try other.linger == 0)
        #expect(other.type == .router)
    }

    @Test("the remaining setters accept valid values")
    func otherSettersAccepted() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.setImmediate(true)
        try dealer.setReconnectInterval(milliseconds: 100, max: 5000)
        try dealer.setBacklog(512)
        try dealer.setTransportHeartbeat(intervalMilliseconds: 100, timeoutMilliseconds: 300)
        try dealer.setRoutingID([UInt8](repeating: 0x41, count: 255))

        let sub = try ZMQSocket(context, type: .sub)
        try sub.subscribe([])
        try sub.subscribe(bytes("topic"))
    }

    @Test("a rejected option throws EINVAL naming the option")
    func rejectedOptionNamesTheOption() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, type: .dealer)

        let mandatory = try #require(throws: ZMQError.self) { try dealer.setRouterMandatory(true) }
        #expect(mandatory.errno == EINVAL)
        #expect(mandatory.description.contains("ZMQ_ROUTER_MANDATORY"), "\(mandatory.description)")

        let tooLong = try #require(throws: ZMQError.self) {
            try dealer.setRoutingID([UInt8](repeating: 0x41, count: 256))
        }
        #expect(tooLong.errno == EINVAL)
        #expect(tooLong.description.contains("ZMQ_ROUTING_ID"), "\(tooLong.description)")

        let subscribe = try #require(throws: ZMQError.self) { try dealer.subscribe(bytes("topic")) }
        #expect(subscribe.errno == EINVAL)
        #expect(subscribe.description.contains("ZMQ_SUBSCRIBE"), "\(subscribe.description)")
    }

    // MARK: - ZMQ_MAXMSGSIZE

    @Test("ZMQ_MAXMSGSIZE: a ROUTER limited to 1024 bytes never receives a 4096-byte message")
    func maxMessageSizeDropsOversizeMessage() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.setMaxMessageSize(1024)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.setRoutingID(bytes("big-sender"))
        try dealer.connect(try router.lastEndpoint)

        // A small message first proves the connection works, so the silence below means "dropped".
        try dealer.send(bytes: bytes("hello"))
        #expect(try nextMessage(router).map(\.bytes) == [bytes("big-sender"), bytes("hello")])

        try dealer.send(bytes: pattern(4096))
        try dealer.send(bytes: bytes("after"))
        let received = try collect(router, forMilliseconds: 500)
        let frameSizes = received.flatMap { $0.map(\.count) }
        #expect(!frameSizes.contains { $0 > 1024 }, "oversize frame delivered; frame sizes: \(frameSizes)")
        withExtendedLifetime(dealer) {}  // the sender must stay open for the whole window
    }

    @Test("control: without ZMQ_MAXMSGSIZE the same 4096-byte message is delivered")
    func withoutMaxMessageSizeLargeMessageArrives() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.setRoutingID(bytes("big-sender"))
        try dealer.connect(try router.lastEndpoint)

        let payload = pattern(4096)
        try dealer.send(bytes: payload)
        let frames = try nextMessage(router)
        #expect(frames.map(\.bytes) == [bytes("big-sender"), payload])
        withExtendedLifetime(dealer) {}
    }

    // MARK: - Errors

    @Test("bind to an invalid endpoint throws a ZMQError whose description contains the endpoint")
    func invalidBind() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .router)

        let endpoint = "nosuchtransport://nowhere"
        let error = try #require(throws: ZMQError.self) { try socket.bind(endpoint) }
        #expect(error.errno == EPROTONOSUPPORT)
        #expect(error.operation.contains(endpoint))
        #expect(error.description.contains(endpoint), "\(error.description)")
        #expect(!error.message.isEmpty)

        let noPort = "tcp://127.0.0.1"
        let noPortError = try #require(throws: ZMQError.self) { try socket.bind(noPort) }
        #expect(noPortError.description.contains(noPort), "\(noPortError.description)")

        // The socket is still usable after the failed binds.
        try socket.bind("tcp://127.0.0.1:*")
        #expect(port(of: try socket.lastEndpoint) != nil)
    }

    @Test("ZMQError equality, flags and description are derived from errno and operation")
    func errorValue() {
        let error = ZMQError(errno: EAGAIN, operation: "zmq_msg_recv")
        #expect(error.wouldBlock)
        #expect(!error.hostUnreachable && !error.contextTerminated && !error.interrupted)
        #expect(error == ZMQError(errno: EAGAIN, operation: "zmq_msg_recv"))
        #expect(error != ZMQError(errno: EINTR, operation: "zmq_msg_recv"))
        #expect(error != ZMQError(errno: EAGAIN, operation: "zmq_msg_send"))
        #expect(ZMQError(errno: EINTR, operation: "x").interrupted)
        #expect(error.description.hasPrefix("zmq_msg_recv failed: "))
        #expect(error.description.contains("(errno \(EAGAIN))"))
        #expect(error.description.contains(error.message))
    }

    // MARK: - Poller and WakeSignal

    @Test("ZMQPoller times out with 0 when nothing is ready")
    func pollerTimesOut() throws {
        let wake = try WakeSignal()
        var poller = ZMQPoller()
        let index = poller.add(fileDescriptor: wake.fileDescriptor)
        let clock = ContinuousClock()
        let start = clock.now
        let result = try pollOnce(&poller, timeoutMilliseconds: 50, index)
        let elapsed = clock.now - start
        #expect(result.ready == 0)
        #expect(result.readable == [false])
        #expect(milliseconds(elapsed) >= 40, "poll returned after \(elapsed), before its 50 ms timeout")
    }

    @Test("WakeSignal from another thread wakes a blocked poll; drain clears it", .timeLimit(.minutes(1)))
    func wakeSignalWakesPoller() throws {
        let wake = try WakeSignal()
        var poller = ZMQPoller()
        let index = poller.add(fileDescriptor: wake.fileDescriptor)

        // Not yet signalled: a zero-timeout poll finds nothing.
        let idle = try pollOnce(&poller, timeoutMilliseconds: 0, index)
        #expect(idle.ready == 0 && idle.readable == [false])

        let clock = ContinuousClock()
        let start = clock.now
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { wake.signal() }
        let woken = try pollOnce(&poller, timeoutMilliseconds: readyTimeout, index)
        let elapsed = clock.now - start
        #expect(woken.ready == 1)
        #expect(woken.readable == [true])
        #expect(milliseconds(elapsed) < Double(readyTimeout), "the signal should end the wait, not the timeout")

        // Still signalled until drained (level-triggered).
        #expect(try pollOnce(&poller, timeoutMilliseconds: 0, index).ready == 1)

        wake.drain()
        let drained = try pollOnce(&poller, timeoutMilliseconds: 0, index)
        #expect(drained.ready == 0)
        #expect(drained.readable == [false])
    }

    @Test("WakeSignal: several signals are cleared by one drain; draining when idle does not block",
          .timeLimit(.minutes(1)))
    func wakeSignalIdempotent() throws {
        let wake = try WakeSignal()
        var poller = ZMQPoller()
        let index = poller.add(fileDescriptor: wake.fileDescriptor)

        wake.drain()  // nothing pending: must return at once (non-blocking eventfd)
        wake.signal()
        wake.signal()
        wake.signal()
        let signalled = try pollOnce(&poller, timeoutMilliseconds: 0, index)
        #expect(signalled.ready == 1 && signalled.readable == [true])
        wake.drain()
        #expect(try pollOnce(&poller, timeoutMilliseconds: 0, index).ready == 0)

        let other = try WakeSignal()
        #expect(other.fileDescriptor != wake.fileDescriptor)
        #expect(other.fileDescriptor >= 0)
    }

    @Test("ZMQPoller reports readiness per index for mixed sockets and file descriptors")
    func pollerIndexesMixedItems() throws {
        let context = try ZMQContext()
        let (a, b) = try pairSockets(context, name: "poller-mixed")
        let wake = try WakeSignal()
        var poller = ZMQPoller()
        let socketIndex = poller.add(a)
        let wakeIndex = poller.add(fileDescriptor: wake.fileDescriptor)
        #expect(socketIndex != wakeIndex)

        #expect(try pollOnce(&poller, timeoutMilliseconds: 0, socketIndex, wakeIndex).ready == 0)

        wake.signal()
        let onlyWake = try pollOnce(&poller, timeoutMilliseconds: readyTimeout, socketIndex, wakeIndex)
        #expect(onlyWake.ready == 1)
        #expect(onlyWake.readable == [false, true])
        wake.drain()

        try b.send(bytes: bytes("data"))
        let onlySocket = try pollOnce(&poller, timeoutMilliseconds: readyTimeout, socketIndex, wakeIndex)
        #expect(onlySocket.ready == 1)
        #expect(onlySocket.readable == [true, false])

        // Level-triggered on sockets: still readable until the message is taken.
        wake.signal()
        let both = try pollOnce(&poller, timeoutMilliseconds: readyTimeout, socketIndex, wakeIndex)
        #expect(both.ready == 2)
        #expect(both.readable == [true, true])

        #expect(try a.receiveMultipart(flags: .dontWait)?.map(\.bytes) == [bytes("data")])
        wake.drain()
        let none = try pollOnce(&poller, timeoutMilliseconds: 0, socketIndex, wakeIndex)
        #expect(none.ready == 0)
        #expect(none.readable == [false, false])
        withExtendedLifetime(b) {}
    }

    // MARK: - Context

    @Test("ZMQContext.version is 4.x and has() answers capabilities")
    func versionAndCapabilities() {
        let version = ZMQContext.version
        #expect(version.major == 4)
        #expect(version.minor >= 0 && version.patch >= 0)

        let curve: Bool = ZMQContext.has("curve")  // value depends on the build; only its type is fixed
        _ = curve
        #expect(ZMQContext.has("no-such-capability") == false)
    }

    @Test("maxSockets is applied: the socket past the limit fails with EMFILE")
    func contextMaxSockets() throws {
        let context = try ZMQContext(maxSockets: 2)
        let first = try ZMQSocket(context, type: .pair)
        let second = try ZMQSocket(context, type: .pair)
        let error = try #require(throws: ZMQError.self) { _ = try ZMQSocket(context, type: .pair) }
        #expect(error.errno == EMFILE)
        #expect(error.description.contains("zmq_socket"))
        withExtendedLifetime((first, second)) {}
    }

    @Test("an invalid I/O thread count is rejected with a ZMQError naming the option")
    func contextInvalidIOThreads() throws {
        let error = try #require(throws: ZMQError.self) { _ = try ZMQContext(ioThreads: -1) }
        #expect(error.errno == EINVAL)
        #expect(error.description.contains("ZMQ_IO_THREADS"))
    }

    @Test("shutdown makes a blocking receive throw contextTerminated", .timeLimit(.minutes(1)))
    func contextShutdownInterruptsBlockingReceive() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .pull)
        try socket.bind("inproc://shutdown")
        context.shutdown()
        let error = try #require(throws: ZMQError.self) { try socket.receive(into: ZMQMessage()) }
        #expect(error.contextTerminated)
        #expect(error.errno == 156_384_712 + 53)  // ETERM = ZMQ_HAUSNUMERO + 53 in zmq.h
    }
}
