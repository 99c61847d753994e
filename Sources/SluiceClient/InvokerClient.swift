import Logging
import SluiceProtocol
import ZeroMQ

/// One activation handed to an invoker.
public struct Activation: Sendable {
    public var header: RoutingHeader
    /// The controller's payload bytes, unchanged (for OpenWhisk, the ActivationMessage JSON).
    public var payload: [UInt8]
}

/// An invoker's connection to a Sluice broker.
///
/// Announces its capacity in HELLO (again after every reconnect or broker restart), receives
/// activations through `onActivation` (called on the connection's thread: hand the work off,
/// do not block), and reports back with `sendResult` (result only; the slot stays busy) and
/// `complete` (frees the slot, optionally with the result: the combined form). Heartbeats are
/// automatic. Thread-safe.
///
/// With `cluster` on (docs/PROTOCOL.md §9.4) the invoker follows the member list: when its
/// broker falls silent it moves at once to a live member (its home: the highest rendezvous
/// hash of its id among the serving brokers), and when its broker is `leaving`, or another
/// serving member is its home, it stops taking work (CAPACITY 0 0), finishes what runs, and
/// then moves there. So invokers spread over the members by rendezvous hashing, and come back
/// to a broker that restarts.
public final class InvokerClient: Sendable {
    public let invokerID: String
    private let connection: PeerConnection
    private let capacity: Locked<Capacity>
    private let warm: Locked<WarmReport?>
    private let clusterState: Locked<ClusterView>
    private let clusterMode: Bool

    /// What an invoker of a cluster knows (§9.4).
    public struct ClusterView: Sendable, Equatable {
        /// The broker it is connected to, from WELCOME.
        public var brokerID = ""
        public var members: [ClusterMember] = []
        /// Activations dispatched here by the current broker and not completed, with their memory.
        public var running: [String: UInt32] = [:]
        /// Activations of a broker that fell silent, still running here: their slots and memory
        /// are not offered to the next broker until they finish, and their results go nowhere
        /// (§9.4).
        public var orphans: [String: UInt32] = [:]

        /// `capacity` less what orphans hold; 0/0 when nothing is left (§4.1: both or neither).
        func available(_ capacity: Capacity) -> Capacity {
            guard !orphans.isEmpty, !capacity.drains else { return capacity }
            let slots = Int(capacity.slots) - orphans.count
            let memory = Int(capacity.memoryMB) - orphans.values.reduce(0) { $0 + Int($1) }
            guard slots >= 1, memory >= 1 else { return Capacity(memoryMB: 0, slots: 0) }
            return Capacity(memoryMB: UInt32(memory), slots: UInt32(slots))
        }
        /// Its broker is leaving, or its home is elsewhere: no new work is taken, and it moves
        /// once `running` is empty.
        public var moving = false
        /// Times it moved to another broker.
        public var moves = 0
        /// Brokers (id and incarnation) this invoker found silent: never a target again, even
        /// while a member list that still names them is all it has (their etcd record outlives
        /// them by up to the lease TTL).
        var lost: Set<String> = []

        static func key(_ member: ClusterMember) -> String { "\(member.brokerID)/\(member.incarnation)" }

        /// Serving members it may go to.
        var candidates: [ClusterMember] { members.filter { $0.state == .serving && !lost.contains(Self.key($0)) } }
    }

    /// - Parameters:
    ///   - id: the invoker id (`[A-Za-z0-9._-]{1,128}`).
    ///   - endpoint: the broker's invoker endpoint.
    ///   - memoryMB, slots: capacity; the broker never has more in flight here.
    ///   - onActivation: called once per DISPATCH, on the connection's thread.
    ///   - cluster: follow the cluster's members and move between brokers (§9.4).
    public init(id: String, endpoint: String, memoryMB: UInt32, slots: UInt32, tags: [String] = [], dedicatedNamespaces: [String] = [],
                context: ZMQContext? = nil, curve: CurveClientKeys? = nil, cluster: Bool = false, logger: Logger = Logger(label: "sluice.invoker"),
                onActivation: @escaping @Sendable (Activation) -> Void) throws {
        try Identifier.validate(id, field: "invoker id")
        invokerID = id
        let capacity = Locked(Capacity(memoryMB: memoryMB, slots: slots))
        self.capacity = capacity
        let warm = Locked<WarmReport?>(nil)
        self.warm = warm
        let view = Locked(ClusterView())
        clusterState = view
        clusterMode = cluster
        /// Where to go instead of `brokerID`: the home among the other serving members it has
        /// not found silent. It becomes the current broker at once (its WELCOME confirms it).
        let elsewhere = { @Sendable () -> String? in
            view.withLock { state in
                let others = state.candidates.filter { $0.brokerID != state.brokerID }
                guard !others.isEmpty else { return nil }
                let target = others[BrokerPicker.home(of: id, among: others.map(\.brokerID))]
                state.brokerID = target.brokerID
                return target.invokerEndpoint
            }
        }
        /// Its home among the serving members, if that is not the broker it is connected to.
        let homeElsewhere = { @Sendable (state: ClusterView) -> Bool in
            let serving = state.candidates
            guard !serving.isEmpty, serving.contains(where: { $0.brokerID == state.brokerID }) else { return false }
            return serving[BrokerPicker.home(of: id, among: serving.map(\.brokerID))].brokerID != state.brokerID
        }
        // Set once the connection exists; called on its thread.
        let connectionBox = Locked<PeerConnection?>(nil)
        /// Moves when the broker is leaving and nothing runs here any more.
        let moveIfDone = { @Sendable in
            guard cluster, view.withLock({ $0.moving && $0.running.isEmpty }), let target = elsewhere(),
                  let connection = connectionBox.withLock({ $0 }) else { return }
            view.withLock { state in
                state.moving = false
                state.moves += 1
            }
            connection.move(to: target)
        }
        var afterSilence: (@Sendable () -> String?)?
        if cluster {
            afterSilence = {
                // The silent broker is never a target again (a member list naming it may
                // outlive it by the lease TTL).
                view.withLock { state in
                    if let silent = state.members.first(where: { $0.brokerID == state.brokerID }) {
                        state.lost.insert(ClusterView.key(silent))
                    }
                }
                let next = elsewhere()
                if next != nil { view.withLock { $0.moves += 1 } }
                return next
            }
        }
        connection = try PeerConnection(
            options: .init(endpoint: endpoint, hello: {
                // The current capacity; 0/0 if drained, so a reconnect does not undo the drain
                // (§4.1); less what a silent broker's work still holds here (§9.4).
                let current = view.withLock { $0 }.available(capacity.withLock { $0 })
                return .invokerHello(InvokerHello(invokerID: id, memoryMB: current.memoryMB, slots: current.slots,
                                                  tags: tags, dedicatedNamespaces: dedicatedNamespaces))
            },
            heartbeat: {
                // Every heartbeat carries the current warm report (§4.3, §4.12), if there is one.
                warm.withLock { $0 }.map { .invokerHeartbeat($0) } ?? .heartbeat
            }, inbound: .brokerToInvoker, curve: curve, cluster: cluster, endpointAfterSilence: afterSilence),
            context: context ?? ZMQContext(), logger: logger,
            deliver: { message, opaque in
                switch message {
                case .dispatch(let header):
                    if cluster { view.withLock { $0.running[header.activationID] = header.memoryMB } }
                    onActivation(Activation(header: header, payload: opaque?.bytes ?? []))
                case .members(let members) where cluster:
                    let leaving = view.withLock { state -> Bool in
                        state.members = members.members
                        let mine = members.members.first { $0.brokerID == state.brokerID }
                        let moveOn = mine?.state == .leaving || homeElsewhere(state)
                        guard moveOn, !state.moving else { return false }
                        state.moving = true
                        return true
                    }
                    if leaving {
                        // No new work from a leaving broker; the capacity kept for the next HELLO is unchanged.
                        connectionBox.withLock { $0 }?.send(.capacity(Capacity(memoryMB: 0, slots: 0)))
                        moveIfDone()
                    }
                default:
                    break
                }
            },
            stateChange: { event in
                switch event {
                case .error(let report) where report.code != .notRegistered:
                    logger.warning("broker reported an error", metadata: ["code": "\(report.code.name)", "activation": "\(report.activationID)", "reason": "\(report.reason)"])
                case .welcomed(let welcome) where cluster:
                    view.withLock { state in
                        state.brokerID = welcome.brokerID
                        state.moving = false
                    }
                case .reconnecting where cluster:
                    // What ran for the silent broker will not be reported to another one.
                    view.withLock { state in
                        state.orphans.merge(state.running) { old, _ in old }
                        state.running.removeAll()
                    }
                default:
                    break
                }
            },
            idle: { moveIfDone() })
        connectionBox.withLock { $0 = connection }
    }

    /// What this invoker knows of the cluster (§9.4); empty without `cluster`.
    public var clusterView: ClusterView { clusterState.withLock { $0 } }

    /// The endpoint of the broker this invoker is connected to now.
    public var endpoint: String { connection.endpoint }

    /// Connects and says HELLO.
    public func start() { connection.start() }

    /// Suspends until the broker has answered HELLO with WELCOME, or `timeout` passes.
    /// The largest message frame the broker accepts (its WELCOME's `max-message`, §4.2): a
    /// larger payload or result would make libzmq drop the connection, so check it first.
    public var maxMessageBytes: Int { connection.maxMessageBytes }

    /// Returns whether the broker welcomed this invoker.
    @discardableResult
    public func waitUntilWelcomed(timeout: Duration = .seconds(3600)) async -> Bool {
        await connection.waitUntilWelcomed(timeout: timeout)
    }

    /// Sends the result of an activation; the slot stays busy until `complete`.
    public func sendResult(activationID: String, outcome: Outcome = .success, result: [UInt8]) {
        if clusterMode, clusterState.withLock({ $0.orphans[activationID] != nil }) { return }
        connection.send(.result(ResultHeader(activationID: activationID, outcome: outcome)), opaque: result)
    }

    /// Frees the activation's slot. With `result`, this is the combined form (result and
    /// completion in one message). `systemError` counts against this invoker's health.
    ///
    /// With `warm`, the completion also carries the invoker's warm containers now (§4.12),
    /// which replaces the report heartbeats carry.
    public func complete(activationID: String, result: (outcome: Outcome, bytes: [UInt8])? = nil, systemError: Bool = false,
                         warm report: WarmReport? = nil) {
        if let report { warm.withLock { $0 = report } }
        if clusterMode {
            // An orphan's result goes nowhere; its slot comes back to the current broker.
            let freed = clusterState.withLock { state -> Capacity? in
                guard state.orphans.removeValue(forKey: activationID) != nil else { return nil }
                return state.available(capacity.withLock { $0 })
            }
            if let freed {
                connection.send(.capacity(freed))
                return
            }
        }
        let header = CompletionHeader(activationID: activationID, includesResult: result != nil, systemError: systemError,
                                      outcome: result?.outcome ?? .success, warm: report)
        connection.send(.completion(header), opaque: result?.bytes)
        if clusterMode { clusterState.withLock { _ = $0.running.removeValue(forKey: activationID) } }
    }

    /// Sets the warm containers this invoker holds (§4.12); sent with every heartbeat from now on.
    public func updateWarmContainers(_ report: WarmReport) {
        warm.withLock { $0 = report }
    }

    /// Announces a new total capacity; `0, 0` drains this invoker (no new work).
    public func updateCapacity(memoryMB: UInt32, slots: UInt32) {
        capacity.withLock { $0 = Capacity(memoryMB: memoryMB, slots: slots) }
        connection.send(.capacity(clusterState.withLock { $0 }.available(Capacity(memoryMB: memoryMB, slots: slots))))
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

    /// Says GOODBYE and stops. The broker answers this invoker's unfinished work `invokerLost`.
    /// Says GOODBYE and stops the connection; returns when it has stopped (suspending, never
    /// blocking, the caller).
    public func close() async { await connection.close() }

    /// As `close()`, blocking the calling thread: for code outside Swift concurrency.
    public func closeBlocking() { connection.closeBlocking() }
}
