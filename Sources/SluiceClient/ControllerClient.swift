import Foundation
import Logging
import SluiceProtocol
import Synchronization
import ZeroMQ

/// The answer to one activation, as a controller receives it.
public struct ControllerAnswer: Sendable, Equatable {
    public var header: AnswerHeader
    /// The invoker's result bytes, unchanged (empty for broker-made failures).
    public var result: [UInt8]

    public init(header: AnswerHeader, result: [UInt8]) {
        self.header = header
        self.result = result
    }

    public var activationID: String { header.activationID }
    public var kind: AnswerKind { header.kind }
}

/// A controller's connection to a Sluice broker.
///
/// - `invoke(_:payload:)` sends one activation and suspends until its answer arrives.
/// - `submit(_:)` sends many without waiting; their answers arrive on `answers`, in arrival
///   order (the batch interface for throughput).
///
/// Every activation gets exactly one answer. If the broker does not answer within
/// `answerTimeout` (default: the broker's own deadline plus a minute), the client makes a
/// `timeout` answer itself and drops the broker's answer if it comes later. Thread-safe.
///
/// With `cluster` on, the client takes part in a cluster (docs/PROTOCOL.md §9): it says
/// CLUSTER after every HELLO, follows the broker's incarnation, room and member list, and when
/// the broker is lost (silent for the liveness window, or back as a new incarnation) it
/// answers every activation that broker held `brokerLost` at once, except those the new
/// incarnation listed in RECOVERED, and drops their late answers (§9.5).
public final class ControllerClient: Sendable {
    public let controllerID: String
    public let answers: AsyncStream<ControllerAnswer>
    private let answersContinuation: AsyncStream<ControllerAnswer>.Continuation
    private let connection: PeerConnection
    private let pending = Locked<[String: Pending]>([:])
    private let answerTimeout: Duration?
    /// Activations this client answered itself (its timeout, or `brokerLost`), so the broker's
    /// late answer is dropped, and how many such late answers were dropped.
    private let timedOut = Locked((ids: RecentSet<String>(capacity: 65_536), dropped: 0))
    /// What this client knows of its broker as a cluster member (§9); unused without `cluster`.
    private let clusterState = Locked(ClusterSession())
    private let clusterMode: Bool
    /// COMPLETED notices (§10.1), when made with `follow`.
    public let completions: AsyncStream<CompletedNotice>
    private let completionsContinuation: AsyncStream<CompletedNotice>.Continuation
    /// Callers of `inventory()` waiting for the next INVENTORY, by token.
    private let inventoryWaiters = Locked((next: 0, waiting: [Int: CheckedContinuation<Inventory?, Never>]()))

    /// A cluster session's view of its broker (§9).
    public struct ClusterSession: Sendable, Equatable {
        /// From WELCOME.
        public var brokerID = ""
        /// The broker's incarnation, from its last MEMBERS; nil before the first.
        public var incarnation: UInt64?
        /// The members the broker last listed.
        public var members: [ClusterMember] = []
        /// Its room as this client estimates it (§9.3).
        public var estimate = BrokerPicker.Estimate(brokerID: "", room: nil)
        /// Welcomed and not silent since.
        public var live = false
        /// RECOVERED ids of the incarnation whose MEMBERS has not arrived yet.
        var recovered: Set<String> = []
        /// Activations this client answered `brokerLost`.
        public var answeredBrokerLost = 0
        /// Times the broker was lost (silent, or a new incarnation).
        public var brokerLosses = 0
        /// The incarnation this client found silent: it gets no new work even if it speaks
        /// again (a paused process), as invokers never return to it (§9.5); a restart is a new
        /// incarnation and a candidate again.
        var silentIncarnation: UInt64?
    }

    private enum Waiter: Sendable {
        case invoke(CheckedContinuation<ControllerAnswer, Never>)
        case stream
    }

    private struct Pending: Sendable {
        var waiter: Waiter
        var deadline: ContinuousClock.Instant?
    }

    /// - Parameters:
    ///   - id: the controller id (`[A-Za-z0-9._-]{1,128}`); answers follow this id across reconnects.
    ///   - endpoint: the broker's controller endpoint.
    ///   - answerTimeout: client-side safety net; nil uses the broker's formula plus 60 s.
    ///   - curve: the broker's public key and this controller's key pair, when the broker has CURVE on.
    ///   - cluster: take part in a cluster (§9): CLUSTER, room, incarnation, `brokerLost`.
    ///   - onMembers: called (on the connection's thread) with every MEMBERS, in cluster mode.
    ///   - follow: ask for COMPLETED notices (§10.1), delivered on `completions`: for a
    ///     platform that frees its own books for an invoker's slot only when the slot is free.
    public init(id: String, endpoint: String, context: ZMQContext? = nil, answerTimeout: Duration? = nil,
                curve: CurveClientKeys? = nil, cluster: Bool = false, onMembers: (@Sendable (Members) -> Void)? = nil,
                follow: Bool = false, logger: Logger = Logger(label: "sluice.controller")) throws {
        try Identifier.validate(id, field: "controller id")
        controllerID = id
        self.answerTimeout = answerTimeout
        clusterMode = cluster
        (answers, answersContinuation) = AsyncStream.makeStream(of: ControllerAnswer.self)
        (completions, completionsContinuation) = AsyncStream.makeStream(of: CompletedNotice.self, bufferingPolicy: .bufferingNewest(100_000))
        let completionsContinuation = self.completionsContinuation
        let inventoryWaiters = self.inventoryWaiters
        let pending = self.pending
        let timedOut = self.timedOut
        let clusterState = self.clusterState
        let continuation = answersContinuation
        /// Answers `brokerLost` everything pending except `kept` (§9.5).
        let loseBroker = { @Sendable (why: String, kept: Set<String>) in
            let (brokerID, incarnation) = clusterState.withLock { state in
                state.brokerLosses += 1
                return (state.brokerID, state.incarnation)
            }
            let ids = pending.withLock { table in table.keys.filter { !kept.contains($0) } }
            let reason = "broker '\(brokerID)'\(incarnation.map { " (incarnation \($0))" } ?? "") was lost: \(why); the outcome is unknown: it may have run"
            var answered = 0
            for id in ids {
                let answer = ControllerAnswer(header: AnswerHeader(activationID: id, kind: .brokerLost, invokerID: "", reason: reason), result: [])
                if Self.resolve(answer, pending: pending, stream: continuation, onlyIfPending: true) {
                    timedOut.withLock { $0.ids.insert(id) }
                    answered += 1
                }
            }
            if answered > 0 {
                logger.warning("broker lost; its activations answered brokerLost", metadata: [
                    "broker": "\(brokerID)", "reason": "\(why)", "answered": "\(answered)",
                ])
            }
            clusterState.withLock { $0.answeredBrokerLost += answered }
        }
        connection = try PeerConnection(
            options: .init(endpoint: endpoint, hello: { .controllerHello(controllerID: id) }, inbound: .brokerToController, curve: curve,
                           cluster: cluster, follow: follow),
            context: context ?? ZMQContext(), logger: logger,
            deliver: { message, opaque in
                switch message {
                case .answer(let header):
                    let answer = ControllerAnswer(header: header, result: opaque?.bytes ?? [])
                    // Not pending here: dropped if this client already answered it (its
                    // timeout, brokerLost), otherwise delivered (answers kept for this id from
                    // before a restart).
                    if Self.resolve(answer, pending: pending, stream: continuation, onlyIfPending: true) {
                        if cluster { clusterState.withLock { $0.estimate.answeredSince += 1 } }
                    } else if !timedOut.withLock({ state in
                        guard state.ids.remove(header.activationID) else { return false }
                        state.dropped += 1
                        return true
                    }) {
                        continuation.yield(answer)
                    }
                case .completed(let notice):
                    completionsContinuation.yield(notice)
                case .inventory(let inventory):
                    let waiting = inventoryWaiters.withLock { state in
                        defer { state.waiting.removeAll() }
                        return Array(state.waiting.values)
                    }
                    for waiter in waiting { waiter.resume(returning: inventory) }
                case .recovered(let recovered) where cluster:
                    clusterState.withLock { $0.recovered.formUnion(recovered.activationIDs) }
                case .members(let members) where cluster:
                    // A restart shows as a new incarnation in MEMBERS; every RECOVERED of the
                    // new incarnation came before it (§9.1, §9.5).
                    let (previous, kept) = clusterState.withLock { state -> (UInt64?, Set<String>) in
                        defer {
                            state.incarnation = members.incarnation
                            state.members = members.members
                            state.recovered = []
                        }
                        return (state.incarnation, state.recovered)
                    }
                    if let previous, previous != members.incarnation {
                        loseBroker("it restarted (incarnation \(previous) is now \(members.incarnation))", kept)
                    }
                    onMembers?(members)
                case .roomHeartbeat(let room) where cluster:
                    clusterState.withLock { state in
                        state.estimate.room = room
                        state.estimate.sentSince = 0
                        state.estimate.answeredSince = 0
                    }
                default:
                    break
                }
            },
            stateChange: { event in
                switch event {
                case .reconnecting(let reason) where cluster:
                    clusterState.withLock { state in
                        state.live = false
                        state.silentIncarnation = state.incarnation
                    }
                    loseBroker("silent: \(reason)", [])
                case .welcomed(let welcome) where cluster:
                    clusterState.withLock { state in
                        state.live = true
                        state.brokerID = welcome.brokerID
                        state.estimate.brokerID = welcome.brokerID
                    }
                case .error(let report) where !report.activationID.isEmpty:
                    // The broker refused this activation outright (duplicate id, no session):
                    // it was not run, and no ANSWER will come.
                    let answer = ControllerAnswer(header: AnswerHeader(activationID: report.activationID, kind: .rejected,
                                                                       reason: "broker error \(report.code.name): \(report.reason)"),
                                                  result: [])
                    Self.resolve(answer, pending: pending, stream: continuation, onlyIfPending: true)
                case .welcomed, .error, .reconnecting:
                    break
                }
            },
            idle: {
                let now = ContinuousClock.now
                let expired = pending.withLock { table -> [String] in
                    table.compactMap { id, entry in (entry.deadline.map { $0 <= now } ?? false) ? id : nil }
                }
                for id in expired {
                    let answered = Self.resolve(ControllerAnswer(header: AnswerHeader(activationID: id, kind: .timeout,
                                                                                      reason: "no answer from the broker in time (client-side timeout)"),
                                                                 result: []),
                                                pending: pending, stream: continuation, onlyIfPending: true)
                    if answered { timedOut.withLock { $0.ids.insert(id) } }
                }
            })
    }

    /// Hands `answer` to whoever waits for it. Returns whether it was pending here.
    @discardableResult
    private static func resolve(_ answer: ControllerAnswer, pending: Locked<[String: Pending]>,
                                stream: AsyncStream<ControllerAnswer>.Continuation, onlyIfPending: Bool = false) -> Bool {
        let entry = pending.withLock { $0.removeValue(forKey: answer.activationID) }
        switch entry?.waiter {
        case .invoke(let continuation):
            continuation.resume(returning: answer)
            return true
        case .stream:
            stream.yield(answer)
            return true
        case nil:
            // Not sent by this client object (for example answers the broker kept for this
            // controller id from before a restart): delivered on `answers`.
            if !onlyIfPending { stream.yield(answer) }
            return false
        }
    }

    /// Connects and says HELLO. Returns immediately; use `waitUntilWelcomed()` to wait.
    public func start() {
        connection.start()
    }

    /// Suspends until the broker has answered HELLO with WELCOME, or `timeout` passes.
    /// Returns whether the broker welcomed this controller.
    @discardableResult
    public func waitUntilWelcomed(timeout: Duration = .seconds(3600)) async -> Bool {
        await connection.waitUntilWelcomed(timeout: timeout)
    }

    private func deadline(for header: RoutingHeader) -> ContinuousClock.Instant? {
        let timeout = answerTimeout ?? (max(.milliseconds(Int64(header.timeLimitMilliseconds)), .seconds(60)) * 2 + .seconds(120))
        return ContinuousClock.now + timeout
    }

    /// Sends one activation and returns its answer. Never throws: failures are answers
    /// (`rejected`, `timeout`, `invokerLost`, ...).
    public func invoke(_ header: RoutingHeader, payload: [UInt8]) async -> ControllerAnswer {
        await withCheckedContinuation { continuation in
            let accepted = pending.withLock { table -> Bool in
                guard table[header.activationID] == nil else { return false }
                table[header.activationID] = Pending(waiter: .invoke(continuation), deadline: deadline(for: header))
                return true
            }
            guard accepted else {
                continuation.resume(returning: ControllerAnswer(
                    header: AnswerHeader(activationID: header.activationID, kind: .rejected,
                                         reason: "activation id is already pending on this client"), result: []))
                return
            }
            if clusterMode { clusterState.withLock { $0.estimate.sentSince += 1 } }
            connection.send(.activate(header), opaque: payload)
        }
    }

    /// Sends activations without waiting; each answer arrives once on `answers`.
    /// Activations whose id is already pending here are answered `rejected` on `answers`.
    public func submit(_ batch: [(RoutingHeader, [UInt8])]) {
        var messages: [(Message, [UInt8]?)] = []
        messages.reserveCapacity(batch.count)
        var duplicates: [String] = []
        pending.withLock { table in
            for (header, payload) in batch {
                if table[header.activationID] != nil { duplicates.append(header.activationID); continue }
                table[header.activationID] = Pending(waiter: .stream, deadline: deadline(for: header))
                messages.append((.activate(header), payload))
            }
        }
        for id in duplicates {
            answersContinuation.yield(ControllerAnswer(header: AnswerHeader(activationID: id, kind: .rejected,
                                                                            reason: "activation id is already pending on this client"), result: []))
        }
        if clusterMode { clusterState.withLock { $0.estimate.sentSince += messages.count } }
        connection.send(batch: messages)
    }

    // MARK: Broadcast (§4.13, §4.14, §6.5)

    /// Publications for this peer's subscriptions, in arrival order. Best effort: when this
    /// stream is not read, the oldest beyond 10,000 are dropped.
    public var publications: AsyncStream<Publication> { connection.publications }

    /// Receives every later publication whose topic starts with `prefix` (empty: all topics).
    /// Kept across reconnects and broker restarts. Throws for a bad prefix or a 33rd one.
    public func subscribe(_ prefix: String) throws(ProtocolError) { try connection.subscribe(prefix) }

    /// Stops receiving publications for `prefix`.
    public func unsubscribe(_ prefix: String) { connection.unsubscribe(prefix) }

    /// Publishes `payload` on `topic` to every subscribed peer, best effort (§6.5).
    public func publish(topic: String, payload: [UInt8]) throws(ProtocolError) {
        try Topic.validate(topic, field: "topic")
        connection.send(.publish(topic: topic), opaque: payload)
    }

    /// The broker's invokers now (INVOKERS, §10.1), or nil if no INVENTORY came within
    /// `timeout` (not connected, or a broker that does not know §10 and answered ERROR).
    public func inventory(timeout: Duration = .seconds(5)) async -> Inventory? {
        let token = inventoryWaiters.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        let waiters = inventoryWaiters
        return await withCheckedContinuation { continuation in
            inventoryWaiters.withLock { $0.waiting[token] = continuation }
            // Registered first, so the timer always finds it or finds it answered.
            Task {
                try? await Task.sleep(for: timeout)
                waiters.withLock { $0.waiting.removeValue(forKey: token) }?.resume(returning: nil)
            }
            connection.send(.invokers)
        }
    }

    /// Broker answers dropped because this client had already answered them (its timeout, or
    /// `brokerLost`).
    public var lateAnswersDropped: Int { timedOut.withLock { $0.dropped } }

    /// This session's view of its broker as a cluster member (§9); empty without `cluster`.
    public var cluster: ClusterSession { clusterState.withLock { $0 } }

    /// What picking a broker needs of this session, without copying its member list: asked
    /// for every activation a `ClusterController` places.
    var placement: (live: Bool, incarnation: UInt64?, estimate: BrokerPicker.Estimate) {
        clusterState.withLock { ($0.live && ($0.incarnation == nil || $0.incarnation != $0.silentIncarnation), $0.incarnation, $0.estimate) }
    }

    /// The largest message frame the broker accepts (its WELCOME's `max-message`, §4.2): a
    /// larger payload or result would make libzmq drop the connection, so check it first.
    public var maxMessageBytes: Int { connection.maxMessageBytes }

    /// Activations sent and not yet answered.
    public var pendingCount: Int { pending.withLock { $0.count } }

    /// Says GOODBYE and stops. Pending activations keep their answers on the broker (it parks
    /// them for this controller id).
    /// Says GOODBYE and stops the connection; returns when it has stopped (suspending, never
    /// blocking, the caller). Unanswered activations are not answered by this client after it.
    public func close() async {
        await connection.close()
        answersContinuation.finish()
        completionsContinuation.finish()
    }

    /// As `close()`, blocking the calling thread: for code outside Swift concurrency.
    public func closeBlocking() {
        connection.closeBlocking()
        answersContinuation.finish()
        completionsContinuation.finish()
    }
}
