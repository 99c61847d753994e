import ArgumentParser
import SluiceMonitor

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A ZeroMQ activation routing fabric for OpenWhisk-style serverless platforms.",
        discussion: """
            Controllers hand activations to a broker node; the broker places each one on an \
            invoker with room (late binding), relays the result back, and answers every \
            activation exactly once, even when invokers die.

            Start a broker with the built-in defaults:
              sluice broker
            Then connect the example invokers and controller (see README.md).
            """,
        version: SluiceVersion.current,
        subcommands: [BrokerCommand.self, StatusCommand.self, DemoCommand.self, ClusterCommand.self, BenchCommand.self, KeygenCommand.self, StrategyBenchCommand.self, MemoryBenchCommand.self, CoreBenchCommand.self, OverflowBenchCommand.self, OpenWhiskJSONBenchCommand.self, BenchForwarderCommand.self, SimulateCommand.self, TraceCommand.self],
        defaultSubcommand: nil
    )
}

