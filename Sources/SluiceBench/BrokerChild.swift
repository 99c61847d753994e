import Foundation

/// A `sluice broker` child process on ephemeral loopback ports.
public final class BrokerChild {
    public let process: Process
    public let controllerEndpoint: String
    public let invokerEndpoint: String
    /// `host:port` of its monitoring endpoint, nil if it has none.
    public let monitorEndpoint: String?
    private let output: Pipe
    private let collected = CollectedOutput()

    final class CollectedOutput: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ chunk: Data) { lock.withLock { data.append(chunk) } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    }

    /// Starts `executable broker` with `arguments` added, and waits for its endpoints.
    /// - Parameter errors: where the broker's standard error goes (default: this process's).
    /// With `forwarder`, starts `executable bench-forwarder` instead: the bench's forwarder
    /// baseline (`Forwarder`), which reports its endpoints the same way.
    public init(executable: String, arguments: [String] = [], errors: FileHandle = .standardError, forwarder: Bool = false) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = forwarder ? ["bench-forwarder"] + arguments
            : ["broker", "--controller-endpoint", "tcp://127.0.0.1:*", "--invoker-endpoint", "tcp://127.0.0.1:*",
               "--log-level", "warning", "--stats-interval", "0s", "--monitor-endpoint", "127.0.0.1:0"] + arguments
        output = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let collected = self.collected
        output.fileHandleForReading.readabilityHandler = { handle in collected.append(handle.availableData) }
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        var fields: [String: String] = [:]
        while fields["controllers"] == nil {
            if !process.isRunning { throw BenchFailure("the broker exited at start-up (status \(process.terminationStatus))") }
            if Date() > deadline { throw BenchFailure("the broker did not report its endpoints within 30 s") }
            if let line = collected.text.split(separator: "\n").first(where: { $0.hasPrefix("listening controllers=") }) {
                for part in line.split(separator: " ") {
                    let pair = part.split(separator: "=", maxSplits: 1)
                    if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
                }
            } else {
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        controllerEndpoint = fields["controllers"] ?? ""
        invokerEndpoint = fields["invokers"] ?? ""
        monitorEndpoint = fields["monitor"].flatMap { $0 == "off" ? nil : $0 }
    }

    public var pid: Int32 { process.processIdentifier }

    /// SIGTERM and wait; returns the broker's summary line, if it printed one.
    @discardableResult
    public func stop() -> String? {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        // The pipe may still hold the last lines.
        Thread.sleep(forTimeInterval: 0.05)
        return collected.text.split(separator: "\n").last(where: { $0.hasPrefix("summary ") }).map(String.init)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
