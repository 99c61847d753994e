import SluiceCore
import Synchronization
import ZeroMQ

/// The only state shared between the loop thread and the rest of the process: requests in,
/// a counters snapshot out. Thread-safe.
final class BrokerControl: Sendable {
    let wake: WakeSignal
    private let shutdown = Atomic<Bool>(false)
    private let snapshot = Mutex(BrokerStatus())

    init() throws(ZMQError) {
        wake = try WakeSignal()
    }

    var shutdownRequested: Bool { shutdown.load(ordering: .acquiring) }

    func requestShutdown() {
        shutdown.store(true, ordering: .releasing)
        wake.signal()
    }

    func publish(_ counters: BrokerCounters, inFlight: Int, waiting: Int, invokers: Int) {
        snapshot.withLock { $0 = BrokerStatus(counters: counters, inFlight: inFlight, waiting: waiting, invokers: invokers) }
    }

    var status: BrokerStatus { snapshot.withLock { $0 } }
}

/// A recent snapshot of a running broker (refreshed every tick).
public struct BrokerStatus: Sendable {
    public var counters = BrokerCounters()
    public var inFlight = 0
    public var waiting = 0
    public var invokers = 0
}

/// The endpoints a broker actually listens on (ports resolved).
public struct BoundEndpoints: Sendable, Equatable {
    public var controller: String
    public var invoker: String
}
