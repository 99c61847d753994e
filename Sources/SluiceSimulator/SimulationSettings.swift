import SluicePluginAPI

/// The modelled invokers: all alike.
///
/// Capacity told to the broker: `memoryMB` and `slots = memoryMB / slotMemoryMB`, the way an
/// OpenWhisk invoker's user memory divided by the action memory bounds its containers. Slots
/// count activations, not cores: with more slots than cores, running activations share the
/// cores (processor sharing), as containers share a machine.
public struct ClusterModel: Sendable, Equatable {
    public var invokers = 8
    public var cores = 12
    public var memoryMB: UInt32 = 8192
    /// Memory of one activation slot (the workloads' actions all use this much).
    public var slotMemoryMB: UInt32 = 256
    /// A container creation takes a time drawn uniformly from this range, seconds.
    public var coldStartSeconds: ClosedRange<Double> = 1...1
    /// An idle warm container is evicted after this long unused, seconds (and earlier, least
    /// recently used first, when a new container needs its memory).
    public var keepAliveSeconds = 1200.0

    public init() {}

    public var slots: UInt32 { memoryMB / max(slotMemoryMB, 1) }
}

/// An invoker joins, and later one drains and leaves, while the workload runs.
public struct ChurnPlan: Sendable, Equatable {
    /// When a new invoker says HELLO, seconds.
    public var joinAt: Double
    /// When invoker `leaverIndex` (0-based among the initial ones) drains (CAPACITY 0/0); it
    /// says GOODBYE once nothing runs on it.
    public var drainAt: Double
    public var leaverIndex: Int
    /// Placements this long before and after each change are compared for the remap share.
    public var windowSeconds = 60.0

    public init(joinAt: Double, drainAt: Double, leaverIndex: Int, windowSeconds: Double = 60) {
        self.joinAt = joinAt
        self.drainAt = drainAt
        self.leaverIndex = leaverIndex
        self.windowSeconds = windowSeconds
    }
}

/// Everything a run needs besides the workload and the strategy.
public struct SimulationSettings: Sendable, Equatable {
    public var cluster = ClusterModel()
    /// Activations that arrive before this are run but not measured, seconds.
    public var warmUpSeconds = 0.0
    /// The broker's `max-waiting-age`: waiting longer is answered `expired`, seconds.
    public var maxWaitingAgeSeconds = 60.0
    /// The broker's `max-waiting`: more waiting is answered `overloaded`.
    public var maxWaiting = 10_000
    /// How often the broker core gets a `.tick` (expiry, deadlines), seconds.
    public var tickSeconds = 0.1
    /// How often peers send HEARTBEAT (invokers with their warm report) and invokers evict
    /// containers past their keep-alive, seconds.
    public var heartbeatSeconds = 1.0
    public var churn: ChurnPlan?
    /// The broker's managed/blackbox split (the broker's default).
    public var eligibility = EligibilityPolicy()
    /// Seeds the cold-start draws.
    public var seed: UInt64 = 1
    /// Broker nodes sharing the invokers (docs/CLUSTER.md): invoker i belongs to broker i mod
    /// N; the controller picks a broker per activation (power of two choices).
    public var brokers = 1
    /// How the controller picks a broker for an activation when there are several.
    public var brokerChoice = BrokerChoice.actionAffinity

    public init() {}
}

/// How a controller picks one of several brokers for an activation (docs/CLUSTER.md).
public enum BrokerChoice: String, Sendable, Equatable, CaseIterable, Codable {
    /// Two brokers at random; the one with more room (free slots less waiting, as last
    /// advertised, corrected by what this controller sent and heard back since).
    case powerOfTwo = "power-of-two"
    /// The action's home broker (a hash of namespace and action over the brokers) while it has
    /// room and its load is within 1.5 times the mean; else the least loaded broker. Keeps an
    /// action's warm containers in one broker's share without piling a hot action on one.
    case actionAffinity = "action-affinity"
}
