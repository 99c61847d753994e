#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One serverless action of a workload.
public struct SimulatedAction: Sendable, Equatable {
    /// Fully qualified name, `namespace/name`, as in the routing header.
    public var name: String
    public var namespace: String
    /// Median execution time without contention, seconds.
    public var medianSeconds: Double
    /// Lognormal spread of one activation's execution time around the median (0: always the
    /// median).
    public var jitterSigma: Double
    /// Execution times are cut at this (the action's time limit), seconds.
    public var timeLimitSeconds: Double
    public var memoryMB: UInt32

    public init(name: String, namespace: String, medianSeconds: Double, jitterSigma: Double = 0,
                timeLimitSeconds: Double = 60, memoryMB: UInt32 = 256) {
        self.name = name
        self.namespace = namespace
        self.medianSeconds = medianSeconds
        self.jitterSigma = jitterSigma
        self.timeLimitSeconds = timeLimitSeconds
        self.memoryMB = memoryMB
    }

    /// Expected execution time, seconds (lognormal mean, ignoring the cut at the time limit).
    public var meanSeconds: Double { min(medianSeconds * exp(jitterSigma * jitterSigma / 2), timeLimitSeconds) }
}

/// One activation request: when the controller sends it, which action, and how much CPU time
/// it needs (its execution time on an otherwise idle core).
public struct Arrival: Sendable, Equatable {
    public var time: Double
    public var action: Int32
    public var work: Double

    public init(time: Double, action: Int32, work: Double) {
        self.time = time
        self.action = action
        self.work = work
    }
}

/// Actions and the activations that arrive for them, sorted by time.
public struct Workload: Sendable {
    public var actions: [SimulatedAction]
    public var arrivals: [Arrival]

    public init(actions: [SimulatedAction], arrivals: [Arrival]) {
        self.actions = actions
        self.arrivals = arrivals.sorted { $0.time != $1.time ? $0.time < $1.time : $0.action < $1.action }
    }

    /// Activations per action per minute (the Azure trace's shape) turned into arrivals: each
    /// minute's count is spread uniformly at random over the minute (a Poisson process
    /// conditioned on its count), and each activation draws its execution time from its action.
    public init(actions: [SimulatedAction], countsPerMinute: [[Int]], seed: UInt64) {
        var random = SimulationRandom(seed: seed ^ 0xA11C_E5ED)
        var arrivals: [Arrival] = []
        arrivals.reserveCapacity(countsPerMinute.reduce(0) { $0 + $1.reduce(0, +) })
        for (index, counts) in countsPerMinute.enumerated() {
            let action = actions[index]
            for (minute, count) in counts.enumerated() where count > 0 {
                for _ in 0..<count {
                    let time = (Double(minute) + random.uniform()) * 60
                    arrivals.append(Arrival(time: time, action: Int32(index), work: Self.drawWork(action, &random)))
                }
            }
        }
        self.init(actions: actions, arrivals: arrivals)
    }

    static func drawWork(_ action: SimulatedAction, _ random: inout SimulationRandom) -> Double {
        let work = action.jitterSigma > 0 ? random.lognormal(mu: log(action.medianSeconds), sigma: action.jitterSigma)
                                          : action.medianSeconds
        return min(max(work, 0.000_5), action.timeLimitSeconds)
    }

    /// Activations per second over `seconds`.
    public func requestRate(over seconds: Double) -> Double { Double(arrivals.count) / max(seconds, 1e-9) }

    /// CPU-seconds asked for per second of the run, divided by `cores`: the offered utilisation.
    public func utilisation(cores: Int, over seconds: Double) -> Double {
        arrivals.reduce(0) { $0 + $1.work } / seconds / Double(max(cores, 1))
    }
}
