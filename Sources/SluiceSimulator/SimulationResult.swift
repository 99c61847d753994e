import SluicePluginAPI
import SluiceProtocol

/// What one run measured, over the activations that arrived after the warm-up.
public struct SimulationResult: Sendable, Codable, Equatable {
    public var strategy: String
    /// Requests per second and offered utilisation (CPU demand / cores) of the workload.
    public var requestRate: Double
    public var utilisation: Double
    /// Activations measured (arrived after the warm-up).
    public var activations: Int
    public var succeeded: Int
    /// Measured activations that waited for a new container.
    public var coldStarts: Int
    /// Containers created and evicted after the warm-up.
    public var containerCreations: Int
    public var evictions: Int
    /// Latency (ACTIVATE to ANSWER) divided by the activation's execution time alone, over
    /// successful activations.
    public var slowdownP50: Double
    public var slowdownP99: Double
    public var slowdownMean: Double
    public var latencyP50Milliseconds: Double
    public var latencyP99Milliseconds: Double
    /// Busiest invoker's CPU work divided by the mean over the initial invokers (1: even).
    public var imbalance: Double
    public var expired: Int
    public var overloaded: Int
    public var throttled: Int
    public var invokerLost: Int
    public var otherFailures: Int
    /// Placements forced onto full invokers (openwhisk-sharding only).
    public var forcedPlacements: Int
    /// Share of actions whose main invoker changed when an invoker joined / left (churn only).
    public var remappedOnJoin: Double?
    public var remappedOnLeave: Double?

    public var coldStartRate: Double { activations == 0 ? 0 : Double(coldStarts) / Double(activations) }
    public var creationsPerThousand: Double { activations == 0 ? 0 : 1000 * Double(containerCreations) / Double(activations) }
    public var evictionsPerThousand: Double { activations == 0 ? 0 : 1000 * Double(evictions) / Double(activations) }
}

extension Simulation {
    func result(strategy: String, duration: Double) -> SimulationResult {
        let arrivals = workload.arrivals
        let warmUp = settings.warmUpSeconds
        var measured = 0
        var succeeded = 0
        var coldStarts = 0
        var slowdowns: [Double] = []
        var latencies: [Double] = []
        var byKind = [Int](repeating: 0, count: AnswerKind.allCases.count)
        let initial = settings.cluster.invokers
        var work = [Double](repeating: 0, count: max(invokers.count, 1))
        for (index, arrival) in arrivals.enumerated() where arrival.time >= warmUp {
            measured += 1
            if cold[index] { coldStarts += 1 }
            if placedOn[index] >= 0 { work[Int(placedOn[index])] += arrival.work }
            guard answerKind[index] != .max, let kind = AnswerKind(rawValue: answerKind[index]) else { continue }
            byKind[Int(kind.rawValue)] += 1
            if kind == .success {
                succeeded += 1
                let latency = answerTime[index] - arrival.time
                latencies.append(latency)
                slowdowns.append(latency / arrival.work)
            }
        }
        slowdowns.sort()
        latencies.sort()
        let initialWork = work.prefix(initial)
        let meanWork = initialWork.reduce(0, +) / Double(max(initial, 1))
        let failures = byKind.enumerated().filter { ![AnswerKind.success, .expired, .overloaded, .throttled, .invokerLost].map(\.rawValue).contains(UInt8($0.offset)) }
        var result = SimulationResult(
            strategy: strategy,
            requestRate: Double(arrivals.count) / max(duration, 1e-9),
            utilisation: workload.utilisation(cores: settings.cluster.cores * settings.cluster.invokers, over: duration),
            activations: measured, succeeded: succeeded, coldStarts: coldStarts,
            containerCreations: creations, evictions: evictions,
            slowdownP50: Self.percentile(slowdowns, 0.50), slowdownP99: Self.percentile(slowdowns, 0.99),
            slowdownMean: slowdowns.isEmpty ? 0 : slowdowns.reduce(0, +) / Double(slowdowns.count),
            latencyP50Milliseconds: 1000 * Self.percentile(latencies, 0.50),
            latencyP99Milliseconds: 1000 * Self.percentile(latencies, 0.99),
            imbalance: meanWork > 0 ? (initialWork.max() ?? 0) / meanWork : 1,
            expired: byKind[Int(AnswerKind.expired.rawValue)], overloaded: byKind[Int(AnswerKind.overloaded.rawValue)],
            throttled: byKind[Int(AnswerKind.throttled.rawValue)], invokerLost: byKind[Int(AnswerKind.invokerLost.rawValue)],
            otherFailures: failures.reduce(0) { $0 + $1.element } + (measured - byKind.reduce(0, +)),
            forcedPlacements: cores.reduce(0) { $0 + $1.counters.forcedPlacements })
        if let churn = settings.churn {
            result.remappedOnJoin = remappedShare(at: churn.joinAt, window: churn.windowSeconds)
            result.remappedOnLeave = remappedShare(at: churn.drainAt, window: churn.windowSeconds)
        }
        return result
    }

    /// Nearest-rank percentile of sorted values (0 when empty).
    static func percentile(_ sorted: [Double], _ quantile: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((quantile * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// Among actions placed at least 3 times both in `[time - window, time)` and in
    /// `[time, time + window)`, the share whose main invoker (the one that got most of its
    /// activations; lowest index on a tie) differs between the two windows.
    func remappedShare(at time: Double, window: Double) -> Double? {
        let actionCount = workload.actions.count
        let invokerCount = invokers.count
        var before = [Int](repeating: 0, count: actionCount * invokerCount)
        var after = before
        for (index, arrival) in workload.arrivals.enumerated() where placedOn[index] >= 0 {
            let at = dispatchTime[index]
            let slot = Int(arrival.action) * invokerCount + Int(placedOn[index])
            if at >= time - window && at < time { before[slot] += 1 } else if at >= time && at < time + window { after[slot] += 1 }
        }
        var compared = 0
        var moved = 0
        for action in 0..<actionCount {
            let range = (action * invokerCount)..<((action + 1) * invokerCount)
            let beforeCounts = before[range]
            let afterCounts = after[range]
            guard beforeCounts.reduce(0, +) >= 3, afterCounts.reduce(0, +) >= 3 else { continue }
            compared += 1
            if Self.mode(beforeCounts) != Self.mode(afterCounts) { moved += 1 }
        }
        return compared == 0 ? nil : Double(moved) / Double(compared)
    }

    static func mode(_ counts: ArraySlice<Int>) -> Int {
        var best = counts.startIndex
        for index in counts.indices where counts[index] > counts[best] { best = index }
        return best - counts.startIndex
    }
}

/// Runs workloads through the real broker core with modelled invokers (see `Simulation`).
public enum Simulator {
    /// One run: the workload, the settings, and a fresh strategy instance. Deterministic.
    public static func run(_ workload: Workload, settings: SimulationSettings, strategy: any RoutingStrategy,
                           duration: Double? = nil) -> SimulationResult {
        run(workload, settings: settings, strategies: [strategy], duration: duration)
    }

    /// One run with one strategy instance per broker (`settings.brokers` of them).
    public static func run(_ workload: Workload, settings: SimulationSettings, strategies: [any RoutingStrategy],
                           duration: Double? = nil) -> SimulationResult {
        var settings = settings
        settings.brokers = strategies.count
        let strategy = strategies[0]
        let simulation = Simulation(workload: workload, settings: settings, strategies: strategies)
        simulation.run()
        let length = duration ?? max((workload.arrivals.last?.time ?? 0).rounded(.up), 1)
        return simulation.result(strategy: strategy.strategyName, duration: length)
    }

    /// The per-activation trace of one run, for tests and tools: when each activation was
    /// answered, how, whether it cold-started, and where it ran.
    public static func trace(_ workload: Workload, settings: SimulationSettings,
                             strategy: any RoutingStrategy) -> [ActivationRecord] {
        var settings = settings
        settings.brokers = 1
        let simulation = Simulation(workload: workload, settings: settings, strategies: [strategy])
        simulation.run()
        return workload.arrivals.indices.map { index in
            ActivationRecord(arrival: workload.arrivals[index].time,
                             answeredAt: simulation.answerKind[index] == .max ? nil : simulation.answerTime[index],
                             kind: AnswerKind(rawValue: simulation.answerKind[index]),
                             coldStart: simulation.cold[index],
                             invoker: simulation.placedOn[index] >= 0 ? simulation.invokers[Int(simulation.placedOn[index])].id : nil)
        }
    }
}

/// What happened to one activation in a run.
public struct ActivationRecord: Sendable, Equatable {
    public var arrival: Double
    public var answeredAt: Double?
    public var kind: AnswerKind?
    public var coldStart: Bool
    public var invoker: String?
    /// Answer time minus arrival time, seconds.
    public var latency: Double? { answeredAt.map { $0 - arrival } }
}
