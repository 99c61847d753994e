import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceBroker
import SluiceCore
import UnixSignals

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a broker node.",
        discussion: """
            Binds two ZeroMQ ROUTER endpoints, one for controllers and one for invokers, and \
            prints the endpoints it listens on. Every flag has a default, so `sluice broker` \
            alone runs a working node on loopback.

            Endpoints: use tcp://127.0.0.1:* to pick free ports (they are printed), or \
            tcp://*:5671 to listen on every interface. SLU/1 has no authentication yet: keep \
            the endpoints on loopback or a private network.

            Shutdown: SIGINT or SIGTERM stops intake, answers waiting work `overloaded`, gives \
            in-flight work --shutdown-grace to finish, answers what is left `timeout`, prints \
            a summary of the counters and exits 0.

            Durations accept ms, s, m and h: 250ms, 2s, 1.5m.
            """
    )

    @Option(help: "ZeroMQ endpoint controllers connect to.")
    var controllerEndpoint = "tcp://127.0.0.1:5671"

    @Option(help: "ZeroMQ endpoint invokers connect to.")
    var invokerEndpoint = "tcp://127.0.0.1:5672"

    @Option(help: "This broker's id, told to peers in WELCOME.")
    var brokerID = "sluice"

    @Option(help: "Placement strategy. Known: \(Strategies.names.joined(separator: ", ")).")
    var strategy = "least-loaded"

    @Option(help: "Heartbeat interval, both directions.")
    var heartbeatInterval = DurationArgument(.seconds(1), text: "1s")

    @Option(help: "Missed heartbeat intervals after which a peer is declared dead.")
    var liveness = 3

    @Option(help: "Activations that may wait for a free invoker; past this they are answered `overloaded`.")
    var maxWaiting = 10_000

    @Option(help: "Longest an activation may wait before it is answered `expired`.")
    var maxWaitingAge = DurationArgument(.seconds(60), text: "60s")

    @Option(help: "Circuit breaker: deadline = max(time limit, FLOOR) * 2 + SLACK. This sets FLOOR.")
    var completionTimeoutFloor = DurationArgument(.seconds(60), text: "60s")

    @Option(help: "Circuit breaker: the SLACK added to every deadline.")
    var completionTimeoutSlack = DurationArgument(.seconds(60), text: "60s")

    @Option(help: "Time before an unhealthy or unresponsive invoker gets a probe activation.")
    var healthCooldown = DurationArgument(.seconds(10), text: "10s")

    @Option(help: "Largest message accepted, bytes (a larger one disconnects its sender).")
    var maxMessageBytes = 2 * 1024 * 1024

    @Option(help: "Time in-flight work may finish after SIGINT/SIGTERM.")
    var shutdownGrace = DurationArgument(.seconds(10), text: "10s")

    @Option(help: "Interval of the one-line stats log (0s: never).")
    var statsInterval = DurationArgument(.seconds(60), text: "60s")

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        do {
            try nodeConfiguration().validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func nodeConfiguration() -> BrokerNodeConfiguration {
        var node = BrokerNodeConfiguration()
        node.controllerEndpoint = controllerEndpoint
        node.invokerEndpoint = invokerEndpoint
        node.strategy = strategy
        node.shutdownGrace = shutdownGrace.duration
        node.statsInterval = statsInterval.duration
        node.core.brokerID = brokerID
        node.core.heartbeatInterval = heartbeatInterval.duration
        node.core.liveness = liveness
        node.core.maxWaiting = maxWaiting
        node.core.maxWaitingAge = maxWaitingAge.duration
        node.core.completionTimeoutFloor = completionTimeoutFloor.duration
        node.core.completionTimeoutSlack = completionTimeoutSlack.duration
        node.core.healthCooldown = healthCooldown.duration
        node.core.maxMessageBytes = maxMessageBytes
        return node
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "sluice.broker")
        let node = nodeConfiguration()
        let broker: Broker
        do {
            broker = try Broker(configuration: node, logger: logger)
        } catch {
            throw ValidationError("\(error)")
        }
        let service = BrokerService(broker: broker) { endpoints in
            let text = """
                sluice broker \(SluiceVersion.current) listening
                  controllers: \(endpoints.controller)
                  invokers:    \(endpoints.invoker)
                  strategy:    \(node.strategy), heartbeat \(node.core.heartbeatInterval), liveness \(node.core.liveness)
                listening controllers=\(endpoints.controller) invokers=\(endpoints.invoker)

                """
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch let failure as BindFailure {
            FileHandle.standardError.write(Data("Error: \(failure)\n".utf8))
            throw ExitCode.failure
        } catch {
            printSummary(broker.status)
            logger.critical("broker stopped on an error", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        printSummary(broker.status)
    }

    func printSummary(_ status: BrokerStatus) {
        var lines = ["sluice broker stopped. summary:"]
        for (name, value) in status.counters.fields {
            lines.append("  \(name.padding(toLength: 32, withPad: " ", startingAt: 0)) \(value)")
        }
        lines.append("summary " + status.counters.fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
