import SluiceCore
import SluicePluginAPI
import SluiceProtocol
import Synchronization
import ZeroMQ

/// The only state shared between the loop thread and the rest of the process: requests in,
/// a counters snapshot out. Thread-safe.
final class BrokerControl: Sendable {
    let wake: WakeSignal
    private let shutdown = Atomic<Bool>(false)
    private let snapshot = Mutex(BrokerStatus())
    /// Strategy and trace changes for the loop, in order.
    private let strategyRequests = RequestQueue<StrategyRequest>()
    private let traceRequests = RequestQueue<TraceRequest>()
    /// The newest member list for the loop (§9.1); nil when it has taken the last one.
    private let pendingMembers = Mutex<(members: [ClusterMember], otherSlots: Int)?>(nil)

    /// Invokers joining and leaving, for the cluster agent (docs/CLUSTER.md); the loop yields,
    /// never waits. Finished when the loop stops.
    let invokerEvents: AsyncStream<InvokerEvent>
    private let invokerEventSink: AsyncStream<InvokerEvent>.Continuation

    init() throws(ZMQError) {
        wake = try WakeSignal()
        (invokerEvents, invokerEventSink) = AsyncStream.makeStream(of: InvokerEvent.self, bufferingPolicy: .bufferingNewest(100_000))
    }

    /// Loop thread: an invoker registered or its session ended.
    func invokerEvent(_ event: InvokerEvent) { invokerEventSink.yield(event) }

    func closeInvokerEvents() { invokerEventSink.finish() }

    var shutdownRequested: Bool { shutdown.load(ordering: .acquiring) }

    func requestShutdown() {
        shutdown.store(true, ordering: .releasing)
        wake.signal()
    }

    func publish(_ counters: BrokerCounters, inFlight: Int, waiting: Int, invokers: Int, slots: Int? = nil) {
        snapshot.withLock {
            $0.counters = counters
            $0.inFlight = inFlight
            $0.waiting = waiting
            $0.invokers = invokers
            if let slots { $0.slots = slots }
        }
    }

    var status: BrokerStatus { snapshot.withLock { $0 } }

    /// Asks the loop to replace the routing strategy; `request.reply` is called once, on the
    /// loop thread with the outcome, or at once if the loop has stopped.
    func requestStrategy(_ request: StrategyRequest) {
        if strategyRequests.submit(request) {
            wake.signal()
        } else {
            request.reply(ParameterError(key: "routing.strategy", problem: "the broker has stopped"))
        }
    }

    func setMembers(_ members: [ClusterMember], otherSlots: Int) {
        pendingMembers.withLock { $0 = (members, otherSlots) }
        wake.signal()
    }

    func takeMembers() -> (members: [ClusterMember], otherSlots: Int)? {
        pendingMembers.withLock { pending in
            defer { pending = nil }
            return pending
        }
    }

    /// The requests waiting, in order (loop thread).
    func takeStrategyRequests() -> [StrategyRequest] { strategyRequests.take() }

    /// The loop stops taking requests: those still waiting, for it to refuse.
    func closeStrategyRequests() -> [StrategyRequest] { strategyRequests.close() }

    /// Asks the loop to start, change or stop the placement trace (a configuration reload).
    func requestTrace(_ request: TraceRequest) {
        if traceRequests.submit(request) { wake.signal() } else { request.reply("the broker has stopped") }
    }

    func takeTraceRequests() -> [TraceRequest] { traceRequests.take() }

    func closeTraceRequests() -> [TraceRequest] { traceRequests.close() }

    func publishStrategy(_ name: String) {
        snapshot.withLock { $0.strategy = name }
    }
}

/// A routing strategy the loop should switch to, and whom to tell how it went (nil: done).
struct StrategyRequest: Sendable {
    var name: String
    var parameters: [String: String]
    var reply: @Sendable (ParameterError?) -> Void
}

enum InvokerEvent: Sendable, Equatable {
    case joined(String)
    case left(String)
}

/// A recent snapshot of a running broker (refreshed every tick).
public struct BrokerStatus: Sendable {
    public var counters = BrokerCounters()
    public var inFlight = 0
    public var waiting = 0
    public var invokers = 0
    /// Slots advertised by invokers that take work (kept only in a cluster, where the broker's
    /// etcd record carries it).
    public var slots = 0
    /// The routing strategy in use.
    public var strategy = ""
}

/// The endpoints a broker actually listens on (ports resolved).
public struct BoundEndpoints: Sendable, Equatable {
    public var controller: String
    public var invoker: String
    /// The monitoring endpoint's `host:port`, nil when it is off.
    public var monitor: String?
}

/// A placement trace the loop should record from now on (nil: stop recording), and whom to
/// tell how it went (nil: done; otherwise why not).
struct TraceRequest: Sendable {
    var settings: TraceSettings?
    var reply: @Sendable (String?) -> Void
}

/// Requests from other threads for the loop, in order; closed (nil) once the loop has stopped
/// taking them, after which `submit` refuses.
final class RequestQueue<Request: Sendable>: Sendable {
    private let queue = Mutex<[Request]?>([])

    /// False if the loop has stopped taking requests.
    func submit(_ request: Request) -> Bool {
        queue.withLock { queue in
            guard queue != nil else { return false }
            queue!.append(request)
            return true
        }
    }

    func take() -> [Request] {
        queue.withLock { queue in
            defer { if queue != nil { queue!.removeAll() } }
            return queue ?? []
        }
    }

    func close() -> [Request] {
        queue.withLock { queue in
            defer { queue = nil }
            return queue ?? []
        }
    }
}
