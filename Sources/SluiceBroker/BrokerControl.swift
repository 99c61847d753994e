import SluiceCore
import Synchronization
import ZeroMQ

/// The only state shared between the loop thread and the rest of the process: requests in,
/// a counters snapshot out. Thread-safe.
final class BrokerControl: Sendable {
    let wake: WakeSignal
    private let shutdown = Atomic<Bool>(false)
    private let snapshot = Mutex(BrokerStatus())
    private let strategyRequest = Mutex<StrategyRequest?>(nil)

    init() throws(ZMQError) {
        wake = try WakeSignal()
    }

    var shutdownRequested: Bool { shutdown.load(ordering: .acquiring) }

    func requestShutdown() {
        shutdown.store(true, ordering: .releasing)
        wake.signal()
    }

    func publish(_ counters: BrokerCounters, inFlight: Int, waiting: Int, invokers: Int) {
        snapshot.withLock {
            $0.counters = counters
            $0.inFlight = inFlight
            $0.waiting = waiting
            $0.invokers = invokers
        }
    }

    var status: BrokerStatus { snapshot.withLock { $0 } }

    /// Asks the loop to replace the routing strategy (the latest request wins).
    func requestStrategy(_ request: StrategyRequest) {
        strategyRequest.withLock { $0 = request }
        wake.signal()
    }

    func takeStrategyRequest() -> StrategyRequest? {
        strategyRequest.withLock { request in
            defer { request = nil }
            return request
        }
    }

    func publishStrategy(_ name: String) {
        snapshot.withLock { $0.strategy = name }
    }
}

/// A routing strategy the loop should switch to.
struct StrategyRequest: Sendable {
    var name: String
    var parameters: [String: String]
}

/// A recent snapshot of a running broker (refreshed every tick).
public struct BrokerStatus: Sendable {
    public var counters = BrokerCounters()
    public var inFlight = 0
    public var waiting = 0
    public var invokers = 0
    /// The routing strategy in use.
    public var strategy = ""
}

/// The endpoints a broker actually listens on (ports resolved).
public struct BoundEndpoints: Sendable, Equatable {
    public var controller: String
    public var invoker: String
}
