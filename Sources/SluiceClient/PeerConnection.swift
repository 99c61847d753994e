import Foundation
import Logging
import SluiceProtocol
import SluiceTransport
import Synchronization
import ZeroMQ

/// One peer's session with a broker: a DEALER owned by a dedicated thread that says HELLO,
/// keeps heartbeats both ways, re-announces itself when the broker forgets it (restart,
/// `notRegistered`) and reconnects when the broker falls silent. Shared by the controller and
/// invoker clients. Thread-safe: `send` may be called from any thread; inbound messages are
/// handed to `deliver` on the connection's thread.
final class PeerConnection: Sendable {
    struct Options: Sendable {
        var endpoint: String
        /// The HELLO to send, asked again on every (re)announcement so it carries current capacity.
        var hello: @Sendable () -> Message
        /// The HEARTBEAT to send, asked each time (an invoker's may carry a warm report).
        var heartbeat: @Sendable () -> Message = { .heartbeat }
        var inbound: Channel
        /// Heartbeat interval until WELCOME says otherwise.
        var heartbeatInterval: Duration = .seconds(1)
        var liveness = 3
        var linger: Duration = .milliseconds(500)
        /// CURVE encryption and authentication to the broker, when it has security on.
        var curve: CurveClientKeys?
        /// Take part in a cluster: CLUSTER follows every HELLO (§9.1).
        var cluster = false
        /// Ask for COMPLETED notices: FOLLOW follows every HELLO (§10.1).
        var follow = false
        /// Asked when the broker fell silent: another endpoint to go to (an invoker of a
        /// cluster moves to a live member, §9.4), or nil to try the same one again.
        var endpointAfterSilence: (@Sendable () -> String?)?
    }

    typealias Deliver = @Sendable (Message, ZMQMessage?) -> Void
    typealias StateChange = @Sendable (SessionEvent) -> Void
    typealias Idle = @Sendable () -> Void

    enum SessionEvent: Sendable {
        case welcomed(Welcome)
        case reconnecting(reason: String)
        case error(ErrorReport)
    }

    private struct Outbound: Sendable {
        var message: Message
        var opaque: [UInt8]?
    }

    private struct Shared: Sendable {
        /// The endpoint connected to now (it changes when the peer moves, §9.4).
        var endpoint = ""
        /// A move asked for by `move(to:)`, done on the connection's thread.
        var moveTo: String?
        var outbox: [Outbound] = []
        /// Topic prefixes, sent again after every HELLO (§4.13: they belong to the session).
        var subscriptions: [String] = []
        var stopping = false
        var stopped = false
        var started = false
        /// Async callers of `close()`, resumed when the connection's thread has stopped.
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let options: Options
    let logger: Logger
    private let context: ZMQContext
    private let wake: WakeSignal
    private let shared = Mutex(Shared())
    private let deliver: Deliver
    private let stateChange: StateChange
    private let idle: Idle
    /// Signalled once the thread has stopped, for synchronous `closeBlocking()` callers.
    private let done = DispatchSemaphore(value: 0)
    private let welcomed = Locked<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// The largest message frame the broker accepts, from its last WELCOME (§4.2); 2 MiB, the
    /// broker's default, before the first.
    private let brokerMaxMessage = Locked(2 * 1024 * 1024)
    var maxMessageBytes: Int { brokerMaxMessage.withLock { $0 } }
    /// Publications received (§4.14); best effort, so the oldest go when a reader falls behind.
    let publications: AsyncStream<Publication>
    private let publicationsContinuation: AsyncStream<Publication>.Continuation

    init(options: Options, context: ZMQContext, logger: Logger, deliver: @escaping Deliver, stateChange: @escaping StateChange, idle: @escaping Idle = {}) throws {
        self.options = options
        self.context = context
        self.logger = logger
        self.deliver = deliver
        self.stateChange = stateChange
        self.idle = idle
        self.wake = try WakeSignal()
        (publications, publicationsContinuation) = AsyncStream.makeStream(of: Publication.self, bufferingPolicy: .bufferingNewest(10_000))
        let endpoint = options.endpoint
        shared.withLock { $0.endpoint = endpoint }
    }

    func start() {
        let alreadyClosed = shared.withLock { state -> Bool in
            state.started = true
            return state.stopping
        }
        guard !alreadyClosed else {
            markStopped()
            return
        }
        let thread = Thread { [self] in
            do {
                try runLoop()
            } catch {
                logger.error("connection loop failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
            }
            markStopped()
        }
        thread.name = "sluice-peer"
        thread.start()
    }

    /// Queues a message for the broker. Never blocks; order is kept.
    func send(_ message: Message, opaque: [UInt8]? = nil) {
        shared.withLock { $0.outbox.append(Outbound(message: message, opaque: opaque)) }
        wake.signal()
    }

    /// Queues many messages with one wake-up.
    func send(batch: [(Message, [UInt8]?)]) {
        shared.withLock { state in
            for (message, opaque) in batch { state.outbox.append(Outbound(message: message, opaque: opaque)) }
        }
        wake.signal()
    }

    /// Suspends until the broker has answered HELLO with WELCOME (once, ever), or `timeout`
    /// passes. Returns whether it did.
    func waitUntilWelcomed(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitUntilWelcomed()
                return self.welcomed.withLock { $0.done }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            if !first { self.releaseWelcomeWaiters(welcomed: false) }
            group.cancelAll()
            return first
        }
    }

    private func waitUntilWelcomed() async {
        await withCheckedContinuation { continuation in
            let done = welcomed.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Wakes everyone waiting for WELCOME; `welcomed` records that it came.
    private func releaseWelcomeWaiters(welcomed done: Bool) {
        let waiters = welcomed.withLock { state -> [CheckedContinuation<Void, Never>] in
            if done { state.done = true }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Adds a topic prefix (§4.13) for this session and every later one.
    func subscribe(_ prefix: String) throws(ProtocolError) {
        try Topic.validate(prefix, field: "topic prefix", prefix: true)
        enum Outcome { case added, alreadyThere, full }
        let outcome = shared.withLock { state -> Outcome in
            if state.subscriptions.contains(prefix) { return .alreadyThere }
            if state.subscriptions.count >= ProtocolConstants.maxSubscriptions { return .full }
            state.subscriptions.append(prefix)
            state.outbox.append(Outbound(message: .subscribe(prefix: prefix), opaque: nil))
            return .added
        }
        switch outcome {
        case .added: wake.signal()
        case .alreadyThere: break
        case .full: throw ProtocolError(.oversize, "a session holds at most \(ProtocolConstants.maxSubscriptions) topic prefixes (§4.13)")
        }
    }

    /// Removes a topic prefix (§4.13).
    func unsubscribe(_ prefix: String) {
        let removed = shared.withLock { state -> Bool in
            guard let index = state.subscriptions.firstIndex(of: prefix) else { return false }
            state.subscriptions.remove(at: index)
            state.outbox.append(Outbound(message: .unsubscribe(prefix: prefix), opaque: nil))
            return true
        }
        if removed { wake.signal() }
    }

    /// HELLO followed by this peer's subscriptions: how a session (re)starts.
    private func announcement() -> [Outbound] {
        let prefixes = shared.withLock { $0.subscriptions }
        return [Outbound(message: options.hello(), opaque: nil)] + (options.cluster ? [Outbound(message: .cluster, opaque: nil)] : [])
            + (options.follow ? [Outbound(message: .follow, opaque: nil)] : [])
            + prefixes.map { Outbound(message: .subscribe(prefix: $0), opaque: nil) }
    }

    private func markStopped() {
        let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.stopped = true
            defer { state.closeWaiters.removeAll() }
            return state.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
        done.signal()
    }

    /// Asks the thread to say GOODBYE, flush for up to the linger time and stop; true if it
    /// has stopped already (or never started).
    private func requestStop() -> Bool {
        let stopped = shared.withLock { state -> Bool in
            state.stopping = true
            if !state.started { state.stopped = true }
            return state.stopped
        }
        wake.signal()
        return stopped
    }

    /// Says GOODBYE, flushes for up to the linger time, and stops the thread; returns when it
    /// has stopped, suspending (not blocking) its caller. Safe to call more than once, from
    /// several tasks at once.
    func close() async {
        guard !requestStop() else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = shared.withLock { state -> Bool in
                if state.stopped { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() }
        }
    }

    /// As `close()`, blocking the calling thread: for callers outside Swift concurrency
    /// (never call it from an async context; use `close()` there).
    func closeBlocking() {
        guard !requestStop() else { return }
        done.wait()
        // Pass the signal on: another thread may be closing at the same time.
        done.signal()
    }

    /// The endpoint connected to now.
    var endpoint: String { shared.withLock { $0.endpoint } }

    /// Ends this session with GOODBYE and starts one at `endpoint` (HELLO again): an invoker of
    /// a cluster moving to another broker (§9.4). Done on the connection's thread.
    func move(to endpoint: String) {
        shared.withLock { $0.moveTo = endpoint }
        wake.signal()
    }

    private func makeSocket() throws(ZMQError) -> ZMQSocket {
        let socket = try ZMQSocket(context, type: .dealer)
        if let curve = options.curve { try socket.setCurveClient(serverKey: curve.serverPublicKey, keys: curve.keys) }
        try socket.setLinger(milliseconds: Int32(clamping: options.linger.milliseconds))
        // No ZMQ_IMMEDIATE: with it, libzmq discards what a connection delivered but this
        // thread had not read yet when that connection closes (even the rest of a multipart
        // message), so the last answers of a broker that exits right after sending them would
        // be lost. Without it, sends made while disconnected wait in the pipe (up to the high
        // water mark) and leave when the connection is up.
        try socket.setReconnectInterval(milliseconds: 100, max: 2000)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.connect(endpoint)
        return socket
    }

    private func runLoop() throws {
        let clock = ContinuousClock()
        var socket = try makeSocket()
        var heartbeat = options.heartbeatInterval
        var lastHeard = clock.now
        var lastSent = clock.now
        var lastIdle = clock.now
        var pending: [Outbound] = announcement()
        var pendingIndex = 0

        /// A fresh connection to `target` (the endpoint now when nil): what was not sent yet
        /// follows a new announcement (HELLO again).
        func startOver(at target: String? = nil) throws {
            if let target { shared.withLock { $0.endpoint = target } }
            socket = try makeSocket()
            pending.removeSubrange(0..<pendingIndex)
            pendingIndex = 0
            pending.insert(contentsOf: announcement(), at: 0)
            lastHeard = clock.now
        }

        func flush() {
            while pendingIndex < pending.count {
                let item = pending[pendingIndex]
                do {
                    try socket.send(item.message, opaque: item.opaque.map { ZMQMessage(bytes: $0) }, flags: .dontWait)
                    pendingIndex += 1
                    lastSent = clock.now
                } catch {
                    // EAGAIN: the pipe is full; retry later.
                    break
                }
            }
            if pendingIndex == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingIndex = 0
            }
        }

        while true {
            var poller = ZMQPoller()
            let socketIndex = poller.add(socket)
            let wakeIndex = poller.add(fileDescriptor: wake.fileDescriptor)
            let waitMilliseconds = pendingIndex < pending.count ? 10 : Int(max(heartbeat.milliseconds / 4, 1))
            _ = try poller.poll(timeoutMilliseconds: waitMilliseconds)
            if poller.isReadable(wakeIndex) { wake.drain() }

            let (newMessages, stopping) = shared.withLock { state -> ([Outbound], Bool) in
                defer { state.outbox.removeAll(keepingCapacity: true) }
                return (state.outbox, state.stopping)
            }
            if stopping {
                flush()
                try? socket.send(.goodbye, flags: .dontWait)
                publicationsContinuation.finish()
                return
            }
            pending.append(contentsOf: newMessages)
            if let target = shared.withLock({ state -> String? in defer { state.moveTo = nil }; return state.moveTo }), target != endpoint {
                // The old session ends cleanly; what was not sent yet goes to the new broker
                // after the announcement.
                flush()
                try? socket.send(.goodbye, flags: .dontWait)
                let from = endpoint
                try startOver(at: target)
                logger.notice("moved to another broker", metadata: ["from": "\(from)", "to": "\(target)"])
            }

            if poller.isReadable(socketIndex) || socket.isReadable {
                while let frames = try socket.receiveMultipart(flags: .dontWait) {
                    lastHeard = clock.now
                    let (decoded, opaque) = Wire.decode(frames[...], channel: options.inbound)
                    switch decoded {
                    case .success(.welcome(let welcome)):
                        heartbeat = .milliseconds(Int64(max(welcome.heartbeatMilliseconds, 10)))
                        brokerMaxMessage.withLock { $0 = Int(welcome.maxMessageBytes) }
                        releaseWelcomeWaiters(welcomed: true)
                        stateChange(.welcomed(welcome))
                    case .success(.heartbeat):
                        break
                    case .success(.publication(let header)):
                        publicationsContinuation.yield(Publication(header: header, payload: opaque?.bytes ?? []))
                    case .success(.error(let report)):
                        if report.code == .notRegistered {
                            // The broker does not know this connection (it restarted, or
                            // declared us dead): announce ourselves again, ahead of the queue.
                            pending.insert(contentsOf: announcement(), at: pendingIndex)
                        }
                        stateChange(.error(report))
                    case .success(let message):
                        deliver(message, opaque)
                    case .failure(let error):
                        logger.warning("undecodable message from broker", metadata: ["error": "\(error)"])
                    }
                }
            }
            flush()

            let now = clock.now
            if lastIdle.duration(to: now) >= .milliseconds(250) {
                lastIdle = now
                idle()
            }
            if lastSent.duration(to: now) >= heartbeat {
                try? socket.send(options.heartbeat(), flags: .dontWait)
                lastSent = now
            }
            if lastHeard.duration(to: now) > heartbeat * options.liveness {
                // The broker fell silent: start over on a fresh connection and say HELLO again.
                stateChange(.reconnecting(reason: "no message from the broker for \(heartbeat * options.liveness)"))
                let silent = endpoint
                try startOver(at: options.endpointAfterSilence?())
                logger.warning("broker silent; reconnecting", metadata: ["endpoint": "\(silent)", "to": "\(endpoint)"])
            }
        }
    }
}

/// A publication received from the broker (§4.14): best-effort broadcast, never an activation.
public struct Publication: Sendable, Equatable {
    public var header: PublicationHeader
    /// The publisher's bytes, unchanged.
    public var payload: [UInt8]

    public var topic: String { header.topic }
    public var originID: String { header.originID }
    public var originRole: PeerRole { header.originRole }
}

/// What a client needs to talk to a broker with CURVE on (docs/SECURITY.md): the broker's
/// public key, and this client's key pair, whose public key the broker must list for the role.
public struct CurveClientKeys: Sendable, Equatable {
    public var serverPublicKey: String
    public var keys: CurveKeyPair

    public init(serverPublicKey: String, keys: CurveKeyPair) {
        self.serverPublicKey = serverPublicKey
        self.keys = keys
    }
}
