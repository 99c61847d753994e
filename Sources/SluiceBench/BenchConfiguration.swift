/// What one bench run does. Defaults follow the platform's shape: 1 KiB activations, 200 B
/// answers, 4 invokers with 16 slots each.
public struct BenchConfiguration: Sendable {
    public enum Load: Sendable, Equatable {
        /// Each controller keeps `window` activations outstanding.
        case closed(window: Int)
        /// A fixed offered rate (activations per second, all controllers together); latency is
        /// measured from each activation's scheduled send time (no coordinated omission).
        case open(rate: Double)
    }

    public var load: Load = .closed(window: 64)
    public var controllers = 1
    public var invokers = 4
    public var slots = 16
    public var payloadBytes = 1024
    public var answerBytes = 200
    /// Measured time, after `warmup`.
    public var duration: Duration = .seconds(5)
    /// Time at the start whose latencies are not recorded (throughput still counts).
    public var warmup: Duration = .seconds(1)
    /// How long to wait for the last answers once sending stops.
    public var drainTimeout: Duration = .seconds(30)
    /// Threads driving the simulated invokers (each polls its share of the sockets).
    public var invokerThreads = 1
    /// Hold every activation on the invokers until `holdCount` are held, then answer them all
    /// (measures the broker's memory per activation in flight). 0: answer at once.
    public var holdCount = 0
    /// Print a progress line every second on standard error.
    public var progress = true

    public init() {}

    public var window: Int {
        if case .closed(let window) = load { return window }
        return 0
    }
}
