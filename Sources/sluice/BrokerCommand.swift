import Configuration
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceBroker
import SluiceCore
import SluiceMonitor
import SluiceOverflowDisk
import SluicePluginAPI
import SluiceStrategies

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a broker node.",
        discussion: """
            Binds two ZeroMQ ROUTER endpoints, one for controllers and one for invokers, and \
            prints the endpoints it listens on. Every setting has a default, so `sluice broker` \
            alone runs a working node on loopback.

            Settings come from, in rising precedence: the defaults, the --config file (YAML, \
            see docs/CONFIGURATION.md), SLUICE_* environment variables (SLUICE_ROUTING_STRATEGY \
            overrides routing.strategy), and the flags below.

            Routing strategies: \(BuiltInStrategies.registry.names.joined(separator: ", ")). With --config, \
            editing routing.* in the file (or SIGHUP) swaps the strategy while running; an invalid \
            new file is refused and the running strategy stays.

            Endpoints: use tcp://127.0.0.1:* to pick free ports (they are printed), or \
            tcp://*:5671 to listen on every interface. Off loopback, turn on CURVE \
            (security.curve in the config file): every connection is encrypted, only listed \
            client keys get in, each on its own role's endpoint and bound to the id it may \
            use (`sluice keygen`, docs/SECURITY.md). Without it, keep the endpoints on \
            loopback or a private network.

            Shutdown: SIGINT or SIGTERM stops intake, answers waiting work `overloaded` (with \
            --overflow-store disk it stays on disk for the next start instead), gives in-flight \
            work --shutdown-grace to finish, answers what is left `timeout`, prints a summary \
            of the counters and exits 0.

            Monitoring: an HTTP endpoint (default 127.0.0.1:5680, loopback only) serves             /metrics (Prometheus), /healthz, /readyz and /status (JSON); `sluice status --watch`             shows it live. --monitor-endpoint off turns it off (docs/OPERATIONS.md).

            Durations accept ms, s, m and h: 250ms, 2s, 1.5m.
            """
    )

    @Option(help: ArgumentHelp("YAML configuration file; watched for routing changes.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Validate a configuration file and exit (0 if valid).", valueName: "file"))
    var checkConfig: String?

    @Option(name: .customLong("plugin"),
            help: ArgumentHelp("Load a routing strategy plugin (a shared library, see docs/ROUTING.md); repeatable.", valueName: "path"))
    var plugins: [String] = []

    @Option(help: "ZeroMQ endpoint controllers connect to (default tcp://127.0.0.1:5671).")
    var controllerEndpoint: String?

    @Option(help: "ZeroMQ endpoint invokers connect to (default tcp://127.0.0.1:5672).")
    var invokerEndpoint: String?

    @Option(help: "This broker's id, told to peers in WELCOME (default sluice).")
    var brokerID: String?

    @Option(help: "How long answers are kept for a controller that is away; past it they are dropped and counted (default 300s).")
    var maxParkedAge: DurationArgument?

    @Option(help: "Messages queued per peer connection before a send fails (default 10000); a controller that stops reading then has its answers kept (bounded) instead of queued.")
    var sendHighWaterMark: Int32?

    @Option(help: "Routing strategy (default least-loaded). Parameters go in the config file.")
    var strategy: String?

    @Option(help: "Heartbeat interval, both directions (default 1s).")
    var heartbeatInterval: DurationArgument?

    @Option(help: "Missed heartbeat intervals after which a peer is declared dead (default 3).")
    var liveness: Int?

    @Option(help: "Activations that may wait for a free invoker; past this they are answered `overloaded` (default 10000).")
    var maxWaiting: Int?

    @Option(help: "Longest an activation may wait before it is answered `expired` (default 60s).")
    var maxWaitingAge: DurationArgument?

    @Option(help: "Circuit breaker: deadline = max(time limit, FLOOR) * 2 + SLACK. This sets FLOOR (default 60s).")
    var completionTimeoutFloor: DurationArgument?

    @Option(help: "Circuit breaker: the SLACK added to every deadline (default 60s).")
    var completionTimeoutSlack: DurationArgument?

    @Option(help: "Time before an unhealthy or unresponsive invoker gets a probe activation (default 10s).")
    var healthCooldown: DurationArgument?

    @Option(help: "Largest message accepted, bytes; a larger one disconnects its sender (default 2097152).")
    var maxMessageBytes: Int?

    @Option(help: "Time in-flight work may finish after SIGINT/SIGTERM (default 10s).")
    var shutdownGrace: DurationArgument?

    @Option(help: "Interval of the one-line stats log; 0s: never (default 60s).")
    var statsInterval: DurationArgument?

    @Option(help: "Where waiting work is kept: memory (default) or disk (survives restarts).")
    var overflowStore: String?

    @Option(help: ArgumentHelp("Directory of the disk overflow store.", valueName: "dir"))
    var overflowPath: String?

    @Option(help: ArgumentHelp("Record a placement trace to this file (new; later segments add .1, .2, ...): arrivals, run times, outcomes and the cluster's shape, names as salted hashes, no ids or payloads. Replay it with `sluice simulate --trace`; see docs/TRACES.md.",
                               valueName: "path"))
    var recordTrace: String?

    @Option(help: ArgumentHelp("HTTP monitoring endpoint, host:port (default 127.0.0.1:5680; port 0 picks a free one; off: none).",
                               valueName: "host:port"))
    var monitorEndpoint: String?

    @Option(help: ArgumentHelp("Join this cluster (docs/CLUSTER.md; being built: membership only). Needs --etcd and a --broker-id of its own.",
                               valueName: "name"))
    var cluster: String?

    @Option(help: ArgumentHelp("etcd client URLs for --cluster, comma separated.", valueName: "urls"))
    var etcd: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: "Log format: text (default), or json (one object per line, for log aggregation).")
    var logFormat = LogFormat.text

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// The flags given on the command line, applied over `node`.
    func applyFlags(to base: BrokerNodeConfiguration) -> BrokerNodeConfiguration {
        var node = base
        if let controllerEndpoint { node.controllerEndpoint = controllerEndpoint }
        if let invokerEndpoint { node.invokerEndpoint = invokerEndpoint }
        if let strategy, strategy != node.strategy {
            node.strategy = strategy
            node.strategyParameters = [:]
        }
        if let shutdownGrace { node.shutdownGrace = shutdownGrace.duration }
        if let statsInterval { node.statsInterval = statsInterval.duration }
        if let brokerID { node.core.brokerID = brokerID }
        if let heartbeatInterval { node.core.heartbeatInterval = heartbeatInterval.duration }
        if let liveness { node.core.liveness = liveness }
        if let maxWaiting { node.core.maxWaiting = maxWaiting }
        if let maxWaitingAge { node.core.maxWaitingAge = maxWaitingAge.duration }
        if let completionTimeoutFloor { node.core.completionTimeoutFloor = completionTimeoutFloor.duration }
        if let completionTimeoutSlack { node.core.completionTimeoutSlack = completionTimeoutSlack.duration }
        if let healthCooldown { node.core.healthCooldown = healthCooldown.duration }
        if let maxParkedAge { node.core.maxParkedAnswerAge = maxParkedAge.duration }
        if let sendHighWaterMark { node.sendHighWaterMark = sendHighWaterMark }
        if let maxMessageBytes { node.core.maxMessageBytes = maxMessageBytes }
        if let overflowStore { node.overflow.store = overflowStore }
        if let overflowPath { node.overflow.path = overflowPath }
        if let recordTrace { node.trace.path = recordTrace }
        if let monitorEndpoint { node.monitor.endpoint = monitorEndpoint == "off" ? nil : monitorEndpoint }
        if let cluster {
            if node.cluster == nil { node.cluster = ClusterSettings(name: cluster, etcd: []) } else { node.cluster?.name = cluster }
        }
        if let etcd {
            let urls = etcd.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            if node.cluster == nil { node.cluster = ClusterSettings(name: "", etcd: urls) } else { node.cluster?.etcd = urls }
        }
        return node
    }

    /// Defaults, then file, then environment, then flags; validated.
    func nodeConfiguration(_ reading: ConfigurationReading, strategies: StrategyRegistry) async throws -> BrokerNodeConfiguration {
        let fromFile: BrokerNodeConfiguration
        do throws(ConfigurationFile.Failure) {
            var defaults = BrokerNodeConfiguration()
            defaults.monitor.endpoint = MonitorSettings.defaultEndpoint
            fromFile = try await ConfigurationFile.apply(reading, strategies: strategies, to: defaults)
        } catch {
            throw ValidationError(error.description)
        }
        let node = applyFlags(to: fromFile)
        do {
            try node.validate(strategies: strategies)
        } catch {
            throw ValidationError("\(error)")
        }
        if node.overflow.store == "disk" {
            do {
                _ = try FsyncPolicy.parse(node.overflow.fsync)
            } catch {
                throw ValidationError("invalid configuration 'overflow.disk.fsync': \(error)")
            }
        }
        return node
    }

    /// The built-in strategies plus every plugin named by --plugin or routing.plugins.
    func strategyRegistry(_ reading: ConfigurationReading) async throws -> StrategyRegistry {
        var registry = BuiltInStrategies.registry
        var paths = plugins
        do throws(ConfigurationFile.Failure) {
            paths += try await ConfigurationFile.pluginPaths(reading)
        } catch {
            throw ValidationError(error.description)
        }
        for path in paths {
            let factory: StrategyFactory
            do {
                factory = try StrategyPlugins.load(path)
            } catch {
                throw ValidationError(error.description)
            }
            guard registry.factories[factory.name] == nil else {
                throw ValidationError("strategy plugin \(path) is called '\(factory.name)', which is already taken; strategies: \(registry.names.joined(separator: ", "))")
            }
            registry.register(factory)
        }
        return registry
    }

    /// Opens the configuration file, its one read (the reloader watches the same provider), and
    /// reads it under the environment.
    func readConfiguration(_ file: String?, level: Logger.Level) async throws
        -> (provider: ReloadingFileProvider<ConfigFileSnapshot>?, reading: ConfigurationReading)
    {
        do throws(ConfigurationFile.Failure) {
            var provider: ReloadingFileProvider<ConfigFileSnapshot>?
            if let file {
                var logger = Logger(label: "sluice.config")
                logger.logLevel = max(level, .info)  // the provider logs each check at debug, every second
                provider = try await ConfigurationFile.open(file, logger: logger)
            }
            let reading = try ConfigurationReading(path: file, snapshot: provider?.snapshot(),
                                                   environment: ProcessInfo.processInfo.environment)
            return (provider, reading)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        // Logging first: the configuration file's provider logs through it.
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap(logFormat.handlerFactory(level: level))
        let (provider, reading) = try await readConfiguration(checkConfig ?? config, level: level)
        let strategies = try await strategyRegistry(reading)
        if let checkConfig {
            let node = try await nodeConfiguration(reading, strategies: strategies)
            let parameters = node.strategyParameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            print("configuration OK: \(checkConfig)")
            print("  controllers \(node.controllerEndpoint), invokers \(node.invokerEndpoint)")
            print("  routing.strategy \(node.strategy)\(parameters.isEmpty ? "" : " (\(parameters))")")
            print("  monitor \(node.monitor.endpoint.map { "http://\($0)" } ?? "off")")
            if let cluster = node.cluster { print("  cluster \(cluster.name) (etcd \(cluster.etcd.joined(separator: ",")), broker id \(node.core.brokerID))") }
            return
        }
        let node = try await nodeConfiguration(reading, strategies: strategies)
        // Checked here, not with the rest: a reload that keeps recording names the same file.
        if let path = node.trace.path, FileManager.default.fileExists(atPath: path) {
            throw ValidationError("invalid configuration 'trace.path': trace file \(path) already exists; record to a new path (a trace is never overwritten)")
        }

        let logger = Logger(label: "sluice.broker")
        let broker: Broker
        do {
            broker = try Broker(configuration: node, strategies: strategies, overflowStore: Self.overflowStore(node.overflow),
                                logger: logger)
        } catch {
            throw ValidationError("\(error)")
        }
        let service = BrokerService(broker: broker) { endpoints in
            let text = """
                sluice broker \(SluiceVersion.current) listening
                  controllers: \(endpoints.controller)
                  invokers:    \(endpoints.invoker)
                  strategy:    \(node.strategy), heartbeat \(node.core.heartbeatInterval), liveness \(node.core.liveness)
                  monitor:     \(endpoints.monitor.map { "http://\($0)/status (sluice status --endpoint \($0) --watch)" } ?? "off")
                listening controllers=\(endpoints.controller) invokers=\(endpoints.invoker) monitor=\(endpoints.monitor ?? "off")

                """
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let config, let provider {
            let reloader = ConfigurationReloader(
                path: config, provider: provider, initialSnapshot: reading.file,
                environment: ProcessInfo.processInfo.environment, broker: broker, strategies: strategies, initial: node,
                pluginPaths: (try? await ConfigurationFile.pluginPaths(reading)) ?? [], flags: self, logger: logger)
            // The provider polls the file and handles SIGHUP; the reloader applies what it publishes.
            services.append(.init(service: provider, successTerminationBehavior: .ignore))
            services.append(.init(service: reloader, successTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch let failure as BindFailure {
            FileHandle.standardError.write(Data("Error: \(failure)\n".utf8))
            throw ExitCode.failure
        } catch let failure as MonitorBindFailure {
            FileHandle.standardError.write(Data("Error: \(failure)\n".utf8))
            throw ExitCode.failure
        } catch let failure as ClusterJoinFailure {
            FileHandle.standardError.write(Data("Error: \(failure)\n".utf8))
            throw ExitCode.failure
        } catch {
            printSummary(broker.status)
            logger.critical("broker stopped on an error", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        printSummary(broker.status)
    }


    /// Opens the configured overflow store on the broker's loop thread; nil for memory.
    static func overflowStore(_ settings: OverflowSettings) -> (@Sendable () throws -> any OverflowStore)? {
        guard settings.store == "disk", let path = settings.path else { return nil }
        return {
            try DiskOverflowStore(directory: path, segmentBytes: settings.segmentBytes, budgetBytes: settings.budgetBytes,
                                  fsync: try FsyncPolicy.parse(settings.fsync))
        }
    }

    func printSummary(_ status: BrokerStatus) {
        var lines = ["sluice broker stopped. summary (strategy \(status.strategy)):"]
        for (name, value) in status.counters.fields {
            lines.append("  \(name.padding(toLength: 32, withPad: " ", startingAt: 0)) \(value)")
        }
        lines.append("summary strategy=\(status.strategy) " + status.counters.fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
