import ArgumentParser
import Foundation
import SluiceBench

/// `sluice bench-forwarder`: the bench's forwarder baseline as a process of its own, so
/// `sluice bench --baseline forwarder` measures its CPU the way it measures the broker's.
struct BenchForwarderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-forwarder",
        abstract: "The minimal forwarding broker `sluice bench --baseline forwarder` compares Sluice with (not a product).",
        discussion: """
            Binds two ROUTERs on free loopback ports, prints `listening controllers=... \
            invokers=...`, and forwards the bench's activations to invokers with credit and \
            their completions back, until SIGTERM or SIGINT. It keeps no promise a broker \
            must keep; it exists to measure against.
            """,
        shouldDisplay: false
    )

    func run() throws {
        let forwarder = try Forwarder()
        FileHandle.standardOutput.write(Data("listening controllers=\(forwarder.controllerEndpoint) invokers=\(forwarder.invokerEndpoint)\n".utf8))
        let stopped = InterruptFlag(watching: [SIGTERM, SIGINT])
        defer { stopped.stopWatching() }
        try forwarder.run { stopped.isSet }
    }
}
