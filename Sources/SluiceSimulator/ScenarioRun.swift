import SluicePluginAPI
import SluiceStrategies

/// The results of every strategy on one workload of a scenario.
public struct ScenarioRun: Sendable, Codable {
    public var scenario: ScenarioName
    public var series: String
    public var label: String
    public var x: Double
    public var results: [SimulationResult]

    public init(scenario: ScenarioName, series: String, label: String, x: Double, results: [SimulationResult]) {
        self.scenario = scenario
        self.series = series
        self.label = label
        self.x = x
        self.results = results
    }
}

extension Scenarios {
    /// Runs every point of `scenario` with each strategy (a fresh instance per run, made from
    /// `registry` with `parameters[name]`). `progress` is told about each finished run.
    public func run(_ scenario: ScenarioName, strategies: [String], registry: StrategyRegistry = BuiltInStrategies.registry,
                    parameters: [String: [String: String]] = [:],
                    progress: (ScenarioName, String, SimulationResult) -> Void = { _, _, _ in }) throws(ParameterError) -> [ScenarioRun] {
        var runs: [ScenarioRun] = []
        for point in points(scenario) {
            var results: [SimulationResult] = []
            for name in strategies {
                var made: [any RoutingStrategy] = []
                for _ in 0..<max(brokers, 1) { made.append(try registry.make(name, parameters: parameters[name] ?? [:])) }
                var settings = point.settings
                settings.brokers = made.count
                settings.brokerChoice = brokerChoice
                let result = Simulator.run(point.workload, settings: settings, strategies: made, duration: point.duration)
                progress(scenario, point.label, result)
                results.append(result)
            }
            runs.append(ScenarioRun(scenario: scenario, series: point.series, label: point.label, x: point.x, results: results))
        }
        return runs
    }
}

/// One strategy's headline numbers on one scenario (or one series of it).
public struct StrategySummary: Sendable, Codable {
    public var scenario: String
    public var strategy: String
    /// The run the per-run numbers come from (the reference load of a sweep).
    public var reference: String
    public var coldStartRate: Double
    public var creationsPerThousand: Double
    public var evictionsPerThousand: Double
    public var slowdownP50: Double
    public var slowdownP99: Double
    /// Highest request rate of the sweep at which p99 slowdown is under 5 (nil: at none; sweeps
    /// only).
    public var throughputAtP99Under5: Double?
    public var imbalance: Double
    public var remappedOnJoin: Double?
    public var remappedOnLeave: Double?
    /// Answered expired / overloaded over every run of the scenario (series).
    public var expired: Int
    public var overloaded: Int
}

public enum Summaries {
    /// Reference utilisation of a load sweep: the run the per-run columns describe.
    public static let referenceLoad = 0.6
    /// Reference execution-time sigma of the variance sweep (the published fit).
    public static let referenceSigma = 2.36

    /// Headline rows per (scenario series, strategy), in strategy order.
    public static func make(_ runs: [ScenarioRun]) -> [StrategySummary] {
        var summaries: [StrategySummary] = []
        var seriesOrder: [String] = []
        for run in runs where !seriesOrder.contains(key(run)) { seriesOrder.append(key(run)) }
        for series in seriesOrder {
            let points = runs.filter { key($0) == series }.sorted { $0.x < $1.x }
            guard let first = points.first else { continue }
            let target = first.scenario == .variance ? referenceSigma : referenceLoad
            let reference = points.first(where: { abs($0.x - target) < 1e-9 }) ?? first
            for (index, result) in reference.results.enumerated() {
                let all = points.map { $0.results[index] }
                var throughput: Double?
                if points.count > 1 && first.scenario == .hermod {
                    throughput = all.filter { $0.slowdownP99 < 5 }.map(\.requestRate).max()
                }
                summaries.append(StrategySummary(
                    scenario: series, strategy: result.strategy, reference: reference.label,
                    coldStartRate: result.coldStartRate, creationsPerThousand: result.creationsPerThousand,
                    evictionsPerThousand: result.evictionsPerThousand, slowdownP50: result.slowdownP50,
                    slowdownP99: result.slowdownP99, throughputAtP99Under5: throughput, imbalance: result.imbalance,
                    remappedOnJoin: result.remappedOnJoin, remappedOnLeave: result.remappedOnLeave,
                    expired: all.reduce(0) { $0 + $1.expired }, overloaded: all.reduce(0) { $0 + $1.overloaded }))
            }
        }
        return summaries
    }

    static func key(_ run: ScenarioRun) -> String {
        run.scenario.rawValue == run.series ? run.series : "\(run.scenario.rawValue)-\(run.series)"
    }
}
