import ArgumentParser
import Foundation
import SluicePluginAPI
import SluiceSimulator
import SluiceStrategies
import SluiceTrace

/// Measures the placement quality of every routing strategy on serverless workloads.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate serverless workloads and measure the placement quality of each routing strategy.",
        discussion: """
            A deterministic discrete-event simulation (same seed, same numbers): the real broker \
            core places activations on a virtual clock through each strategy plugin, and \
            modelled invokers run them (memory budget, cores shared by running activations, warm \
            containers with keep-alive and LRU eviction, cold starts). Workloads are shaped like \
            the Azure Functions trace, or read from a trace file in its per-minute CSV format.

            Scenarios: hermod (8x12 cores, load sweep, balanced and skewed mixes), micro \
            (2-10 ms actions, colliding heavy actions), churn (an invoker joins, one leaves), \
            variance (execution-time spread swept at 70 % load). See docs/PLACEMENT.md.

            Build with -c release; the default run takes well under a minute:
              swift build -c release --product sluice && .build/release/sluice simulate
            """
    )

    @Option(help: "Scenarios to run, comma separated: hermod, micro, churn, variance, or all.")
    var scenario = "all"

    @Option(name: [.customLong("strategies"), .customLong("strategy")],
            help: "Strategies to compare, comma separated (default: every built-in that places on its own).")
    var strategies: String?

    @Option(name: .customLong("param"), help: "A strategy parameter, strategy.key=value (repeatable), e.g. warm-affinity.load-threshold=0.5.")
    var parameters: [String] = []

    @Option(help: "Seed of the workloads and cold-start draws.")
    var seed: UInt64 = 1

    @Option(help: "Multiplies the length of every run (1: as documented).")
    var scale = 1.0

    @Option(help: "Broker nodes sharing the invokers (a cluster, docs/CLUSTER.md): invoker i belongs to broker i mod N, the controller picks a broker per activation by power of two choices.")
    var brokers = 1

    @Option(help: "With --brokers: how the controller picks a broker: action-affinity (default) or power-of-two.")
    var brokerChoice = "action-affinity"

    @Flag(help: "Print one JSON document (every run and the summaries) instead of tables.")
    var json = false

    @Option(help: "Write the SVG charts into this folder.")
    var svgDir: String?

    @Option(help: "Replay this trace instead of the scenarios: one recorded by `sluice broker --record-trace` (on the recorded cluster's shape, or --cluster), or an Azure per-minute CSV (on the hermod cluster).")
    var trace: String?

    @Option(help: ArgumentHelp("With a recorded --trace: replay on this cluster instead of the recorded one: invokers:cores:memory-mb, e.g. 8:12:8192.",
                               valueName: "n:cores:mb"))
    var cluster: String?

    @Option(help: "With a recorded --trace: seconds an idle container stays warm in the replay (a trace does not record the invokers' keep-alive; default: the simulator's 1200).")
    var keepAlive: Double?

    @Option(help: "With a recorded --trace: seconds a container takes to start in the replay (default: estimated from the trace's warm and cold runs, else the simulator's 1).")
    var coldStart: Double?

    @Option(help: "Minutes of the trace to run (default: all of it).")
    var traceMinutes: Int?

    @Option(help: "Write a synthetic trace in the Azure CSV format to this file and stop (see --export-minutes, --export-rate).")
    var exportTrace: String?

    @Option(help: "Minutes in an exported trace.")
    var exportMinutes = 30

    @Option(help: "Actions in an exported trace.")
    var exportActions = 40

    @Option(help: "Requests per second of an exported trace.")
    var exportRate = 2.0

    func run() throws {
        if let exportTrace {
            var synthetic = SyntheticWorkload()
            synthetic.actions = exportActions
            synthetic.minutes = exportMinutes
            synthetic.seed = seed
            try AzureTrace(synthetic, requestRate: exportRate).csv().write(toFile: exportTrace, atomically: true, encoding: .utf8)
            print("wrote \(exportTrace): \(exportActions) functions, \(exportMinutes) minutes")
            return
        }
        guard (1...16).contains(brokers) else { throw ValidationError("--brokers must be between 1 and 16") }
        if brokers > 1 && trace != nil { throw ValidationError("--brokers applies to the scenarios, not to --trace") }
        let registry = BuiltInStrategies.registry
        let names = strategies?.split(separator: ",").map(String.init) ?? SimulatorStrategies.compared
        for name in names where registry.factories[name] == nil {
            throw ValidationError("unknown strategy '\(name)'; known: \(registry.names.joined(separator: ", "))")
        }
        var strategyParameters: [String: [String: String]] = [:]
        for parameter in parameters {
            let parts = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            let key = parts.first?.split(separator: ".", maxSplits: 1).map(String.init) ?? []
            guard parts.count == 2, key.count == 2 else { throw ValidationError("--param '\(parameter)' must look like strategy.key=value") }
            strategyParameters[key[0], default: [:]][key[1]] = parts[1]
        }
        let clock = ContinuousClock()
        let started = clock.now
        var runs: [ScenarioRun] = []
        if let trace {
            runs = try runTrace(trace, names: names, registry: registry, parameters: strategyParameters)
        } else {
            let selected: [ScenarioName]
            if scenario == "all" {
                selected = ScenarioName.allCases
            } else {
                selected = try scenario.split(separator: ",").map { (name) throws -> ScenarioName in
                    guard let parsed = ScenarioName(rawValue: String(name)) else {
                        throw ValidationError("unknown scenario '\(name)'; known: \(ScenarioName.allCases.map(\.rawValue).joined(separator: ", ")), all")
                    }
                    return parsed
                }
            }
            var scenarios = Scenarios(seed: seed, scale: scale)
            scenarios.brokers = brokers
            guard let choice = BrokerChoice(rawValue: brokerChoice) else {
                throw ValidationError("--broker-choice '\(brokerChoice)' is not one of \(BrokerChoice.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            scenarios.brokerChoice = choice
            for name in selected {
                do {
                    runs += try scenarios.run(name, strategies: names, registry: registry, parameters: strategyParameters)
                } catch {
                    throw ValidationError(error.description)
                }
            }
        }
        let summaries = Summaries.make(runs)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            struct Document: Encodable {
                var seed: UInt64
                var summaries: [StrategySummary]
                var runs: [ScenarioRun]
            }
            print(String(decoding: try encoder.encode(Document(seed: seed, summaries: summaries, runs: runs)), as: UTF8.self))
        } else {
            print(Report.summaryTable(summaries), terminator: "")
            if trace != nil, let results = runs.first?.results { print(Report.recommendation(results)) }
            for series in ["balanced", "skewed"] {
                let sweep = runs.filter { $0.scenario == .hermod && $0.series == series }
                guard sweep.count > 1 else { continue }
                print(Report.sweepTable(sweep, title: "hermod \(series): p99 slowdown by offered load", metric: \.slowdownP99), terminator: "")
                print(Report.sweepTable(sweep, title: "hermod \(series): cold-start rate (%) by offered load",
                                        metric: { 100 * $0.coldStartRate }), terminator: "")
            }
            let variance = runs.filter { $0.scenario == .variance }
            if !variance.isEmpty {
                print(Report.sweepTable(variance, title: "variance: p99 slowdown by execution-time sigma (70 % load)", metric: \.slowdownP99),
                      terminator: "")
                print(Report.sweepTable(variance, title: "variance: p50 slowdown by execution-time sigma (70 % load)", metric: \.slowdownP50),
                      terminator: "")
            }
            let elapsed = started.duration(to: clock.now)
            if brokers > 1 { print("\n\(brokers) brokers, invokers shared round robin; the controller picks a broker by \(brokerChoice)") }
            print(String(format: "\n%ld runs in %.1f s (seed %llu)", runs.reduce(0) { $0 + $1.results.count },
                         Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, seed))
        }
        if let svgDir { try writeCharts(runs, to: svgDir) }
    }

    func runTrace(_ path: String, names: [String], registry: StrategyRegistry,
                  parameters: [String: [String: String]]) throws -> [ScenarioRun] {
        if let head = FileHandle(forReadingAtPath: path).map({ handle in defer { try? handle.close() }; return handle.readData(ofLength: 4) }),
           Array(head) == TraceFormat.magic {
            return try runRecordedTrace(path, names: names, registry: registry, parameters: parameters)
        }
        if cluster != nil || keepAlive != nil || coldStart != nil {
            throw ValidationError("--cluster, --keep-alive and --cold-start apply to a trace recorded by `sluice broker --record-trace`, not to an Azure CSV")
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let parsed: AzureTrace
        do { parsed = try AzureTrace(csv: text) } catch { throw ValidationError("\(path): \(error.description)") }
        let workload = parsed.workload(minutes: traceMinutes, seed: seed)
        var settings = SimulationSettings()
        settings.cluster = Scenarios.hermodCluster()
        settings.seed = seed
        let duration = Double(min(traceMinutes ?? parsed.minutes, parsed.minutes) * 60)
        var results: [SimulationResult] = []
        for name in names {
            results.append(Simulator.run(workload, settings: settings, strategy: try registry.make(name, parameters: parameters[name] ?? [:]),
                                         duration: duration))
        }
        return [ScenarioRun(scenario: .hermod, series: "trace", label: (path as NSString).lastPathComponent, x: 0, results: results)]
    }

    /// Replays a recorded trace through every strategy on the recorded shape (or --cluster).
    func runRecordedTrace(_ path: String, names: [String], registry: StrategyRegistry,
                          parameters: [String: [String: String]]) throws -> [ScenarioRun] {
        let recorded: RecordedTrace
        do { recorded = RecordedTrace(try TraceFile(path: path)) } catch { throw ValidationError(error.description) }
        guard !recorded.activations.isEmpty else { throw ValidationError("\(path): the trace holds no activations") }
        var settings = SimulationSettings()
        settings.cluster = recorded.cluster
        settings.seed = seed
        if let cluster {
            let parts = cluster.split(separator: ":").map { Int($0) }
            guard parts.count == 3, let invokers = parts[0], let cores = parts[1], let memory = parts[2],
                  invokers >= 1, cores >= 1, memory >= 128 else {
                throw ValidationError("--cluster '\(cluster)' must be invokers:cores:memory-mb, e.g. 8:12:8192")
            }
            settings.cluster.invokers = invokers
            settings.cluster.cores = cores
            settings.cluster.memoryMB = UInt32(memory)
        }
        if let keepAlive {
            guard keepAlive > 0 else { throw ValidationError("--keep-alive must be positive") }
            settings.cluster.keepAliveSeconds = keepAlive
        }
        if let coldStart {
            guard coldStart >= 0 else { throw ValidationError("--cold-start must not be negative") }
            settings.cluster.coldStartSeconds = coldStart...coldStart
        }
        let workload = recorded.workload()
        let duration = recorded.span + 1
        if !json {
            print(String(format: "replaying %@: %d activations of %d actions over %.0f s, on %d invokers x %d cores, %d MB (%@); cold start %.2f s (%@); keep-alive %.0f s",
                         path, recorded.activations.count, recorded.actionHashes.count, recorded.span, settings.cluster.invokers,
                         settings.cluster.cores, settings.cluster.memoryMB, cluster == nil ? "as recorded" : "--cluster",
                         settings.cluster.coldStartSeconds.lowerBound,
                         coldStart != nil ? "--cold-start" : recorded.estimatedColdStartSeconds == nil ? "the simulator's default: the trace has no warm and cold runs of one action (its invokers may not report warm containers); set --cold-start" : "estimated from the trace",
                         settings.cluster.keepAliveSeconds))
        }
        var results: [SimulationResult] = []
        for name in names {
            results.append(Simulator.run(workload, settings: settings, strategy: try registry.make(name, parameters: parameters[name] ?? [:]),
                                         duration: duration))
        }
        return [ScenarioRun(scenario: .hermod, series: "trace", label: (path as NSString).lastPathComponent, x: 0, results: results)]
    }

    func writeCharts(_ runs: [ScenarioRun], to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func write(_ name: String, _ svg: String) throws {
            guard !svg.isEmpty else { return }
            try svg.write(toFile: (folder as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        for series in ["balanced", "skewed"] {
            let sweep = runs.filter { $0.scenario == .hermod && $0.series == series }
            if sweep.count > 1 {
                try write("placement-p99-slowdown-\(series).svg",
                          Report.slowdownChart(sweep, title: "p99 slowdown vs load, \(series) mix (8 invokers x 12 cores)"))
            }
        }
        var groups: [(name: String, results: [SimulationResult])] = []
        for run in runs {
            switch run.scenario {
            case .hermod where abs(run.x - Summaries.referenceLoad) < 1e-9: groups.append(("hermod \(run.series) 60%", run.results))
            case .micro, .churn: groups.append((run.scenario.rawValue, run.results))
            case .hermod where run.series == "trace": groups.append(("trace \(run.label)", run.results))
            default: break
            }
        }
        if !groups.isEmpty { try write("placement-cold-start-rate.svg", Report.coldStartChart(groups, title: "Cold-start rate per strategy")) }
    }
}
