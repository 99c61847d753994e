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
public final class InvokerClient: Sendable {
    public let invokerID: String
    private let connection: PeerConnection
    private let capacity: Locked<Capacity>
    private let warm: Locked<WarmReport?>

    /// - Parameters:
    ///   - id: the invoker id (`[A-Za-z0-9._-]{1,128}`).
    ///   - endpoint: the broker's invoker endpoint.
    ///   - memoryMB, slots: capacity; the broker never has more in flight here.
    ///   - onActivation: called once per DISPATCH, on the connection's thread.
    public init(id: String, endpoint: String, memoryMB: UInt32, slots: UInt32, tags: [String] = [], dedicatedNamespaces: [String] = [],
                context: ZMQContext? = nil, curve: CurveClientKeys? = nil, logger: Logger = Logger(label: "sluice.invoker"),
                onActivation: @escaping @Sendable (Activation) -> Void) throws {
        try Identifier.validate(id, field: "invoker id")
        invokerID = id
        let capacity = Locked(Capacity(memoryMB: memoryMB, slots: slots))
        self.capacity = capacity
        let warm = Locked<WarmReport?>(nil)
        self.warm = warm
        connection = try PeerConnection(
            options: .init(endpoint: endpoint, hello: {
                // The current capacity; 0/0 if drained, so a reconnect does not undo the drain (§4.1).
                let current = capacity.withLock { $0 }
                return .invokerHello(InvokerHello(invokerID: id, memoryMB: current.memoryMB, slots: current.slots,
                                                  tags: tags, dedicatedNamespaces: dedicatedNamespaces))
            },
            heartbeat: {
                // Every heartbeat carries the current warm report (§4.3, §4.12), if there is one.
                warm.withLock { $0 }.map { .invokerHeartbeat($0) } ?? .heartbeat
            }, inbound: .brokerToInvoker, curve: curve),
            context: context ?? ZMQContext(), logger: logger,
            deliver: { message, opaque in
                guard case .dispatch(let header) = message else { return }
                onActivation(Activation(header: header, payload: opaque?.bytes ?? []))
            },
            stateChange: { event in
                if case .error(let report) = event, report.code != .notRegistered {
                    logger.warning("broker reported an error", metadata: ["code": "\(report.code.name)", "activation": "\(report.activationID)", "reason": "\(report.reason)"])
                }
            })
    }

    /// Connects and says HELLO.
    public func start() { connection.start() }

    /// Suspends until the broker has answered HELLO with WELCOME, or `timeout` passes.
    /// Returns whether the broker welcomed this invoker.
    @discardableResult
    public func waitUntilWelcomed(timeout: Duration = .seconds(3600)) async -> Bool {
        await connection.waitUntilWelcomed(timeout: timeout)
    }

    /// Sends the result of an activation; the slot stays busy until `complete`.
    public func sendResult(activationID: String, outcome: Outcome = .success, result: [UInt8]) {
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
        let header = CompletionHeader(activationID: activationID, includesResult: result != nil, systemError: systemError,
                                      outcome: result?.outcome ?? .success, warm: report)
        connection.send(.completion(header), opaque: result?.bytes)
    }

    /// Sets the warm containers this invoker holds (§4.12); sent with every heartbeat from now on.
    public func updateWarmContainers(_ report: WarmReport) {
        warm.withLock { $0 = report }
    }

    /// Announces a new total capacity; `0, 0` drains this invoker (no new work).
    public func updateCapacity(memoryMB: UInt32, slots: UInt32) {
        capacity.withLock { $0 = Capacity(memoryMB: memoryMB, slots: slots) }
        connection.send(.capacity(Capacity(memoryMB: memoryMB, slots: slots)))
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
