import Foundation
import SluiceMonitor
import SluiceTestKit
import Synchronization
import Testing

/// Where SwiftPM put the executables this test bundle depends on.
enum Products {
    static let directory: URL = {
        var candidates: [URL] = []
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("sluice").path) {
            return candidate
        }
        return candidates.last!
    }()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// Collects a child process's output as it arrives and lets a test wait for a line.
final class OutputCollector: Sendable {
    private let text = Mutex("")
    private let ended = Mutex(false)
    private let condition = NSCondition()

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty {
                    condition.lock()
                    ended.withLock { $0 = true }
                    condition.broadcast()
                    condition.unlock()
                    break
                }
                condition.lock()
                text.withLock { $0 += String(decoding: data, as: UTF8.self) }
                condition.broadcast()
                condition.unlock()
            }
        }
        thread.start()
    }

    var current: String { text.withLock { $0 } }

    /// Waits until the child closed this stream (it exited); returns everything it wrote.
    func waitForEnd(timeout: Duration) -> String {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !ended.withLock({ $0 }) {
            if !condition.wait(until: deadline) { break }
        }
        return current
    }

    /// Waits until the output contains `needle`; returns the output, or nil on timeout.
    func wait(for needle: String, timeout: Duration) -> String? {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let now = current
            if now.contains(needle) { return now }
            if !condition.wait(until: deadline) { return current.contains(needle) ? current : nil }
        }
    }
}

/// A child process with its output collected.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let output: OutputCollector
    let errors: OutputCollector
    private let exited = DispatchSemaphore(value: 0)

    /// - Parameter environment: added to this process's environment for the child.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        output = OutputCollector(out.fileHandleForReading)
        errors = OutputCollector(err.fileHandleForReading)
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit; returns the exit status, or nil on timeout.
    func waitForExit(timeout: Duration) -> Int32? {
        let seconds = Double(timeout.components.seconds)
        guard exited.wait(timeout: .now() + seconds) == .success else { return nil }
        exited.signal()
        return process.terminationStatus
    }

    /// Waits for exit without holding a thread (the test pool has one per core); returns the
    /// exit status, or nil on timeout.
    func exit(timeout: Duration) async -> Int32? {
        do {
            try await waitUntil("process \(pid) to exit", timeout: timeout) { !process.isRunning }
        } catch {
            return nil
        }
        return waitForExit(timeout: .seconds(5))
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// A `sluice broker` process on free loopback ports.
final class BrokerProcess: Sendable {
    let child: ChildProcess
    let controllerEndpoint: String
    let invokerEndpoint: String
    /// `host:port` of its monitoring endpoint (`--monitor-endpoint 127.0.0.1:0` unless the
    /// arguments name another).
    let monitorEndpoint: String

    init(_ extraArguments: [String] = [], controllerEndpoint: String = "tcp://127.0.0.1:*",
         invokerEndpoint: String = "tcp://127.0.0.1:*") throws {
        child = try ChildProcess(Products.path("sluice"), [
            "broker", "--controller-endpoint", controllerEndpoint, "--invoker-endpoint", invokerEndpoint,
            "--log-level", "warning", "--stats-interval", "0s", "--monitor-endpoint", "127.0.0.1:0",
        ] + extraArguments)
        guard let text = child.output.wait(for: "listening controllers=", timeout: .seconds(30)),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening controllers=") }) else {
            throw TestFailure("broker did not report its endpoints; stderr: \(child.errors.current)")
        }
        var fields: [String: String] = [:]
        for part in line.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        self.controllerEndpoint = fields["controllers"] ?? ""
        self.invokerEndpoint = fields["invokers"] ?? ""
        self.monitorEndpoint = fields["monitor"] ?? ""
    }

    /// The broker's `/status` now.
    func status() async throws -> StatusDocument {
        let response = try await MonitorClient.get(monitorEndpoint, path: "/status")
        guard response.status == 200 else { throw TestFailure("/status answered \(response.status): \(response.text)") }
        return try StatusDocument.decode(Data(response.body))
    }

    /// Reads `/status` until `condition` holds (the broker refreshes it 4 times a second), and
    /// returns that reading; throws with the last reading if `timeout` passes first.
    @discardableResult
    func waitForStatus(timeout: Duration = .seconds(15), _ what: String,
                       _ condition: (StatusDocument) -> Bool) async throws -> StatusDocument {
        var last: StatusDocument?
        do {
            try await waitUntil(what, timeout: timeout) {
                last = try await status()
                return last.map(condition) ?? false
            }
            return last!
        } catch is WaitTimedOut {
        }
        throw TestFailure("waited \(timeout) for \(what); last /status: invokers \(last?.invokers.map { "\($0.id):\($0.state):\($0.memoryMb)MB" } ?? []), controllers \(last?.controllers.map { "\($0.id):\($0.connected)" } ?? []), waiting \(last?.gauges.waiting ?? -1), in flight \(last?.gauges.inFlight ?? -1), strategy \(last?.strategy ?? "?")")
    }

    /// Waits until invokers with these ids are registered.
    func waitForInvokers(_ ids: Set<String>, timeout: Duration = .seconds(15)) async throws {
        try await waitForStatus(timeout: timeout, "invokers \(ids.sorted()) registered") { status in
            ids.isSubset(of: Set(status.invokers.map(\.id)))
        }
    }

    var isRunning: Bool { child.process.isRunning }

    /// SIGTERM, wait for a clean exit, and return the counters from the exit summary.
    func stop() throws -> [String: Int] {
        child.signal(SIGTERM)
        guard let status = child.waitForExit(timeout: .seconds(30)) else {
            child.signal(SIGKILL)
            throw TestFailure("broker did not exit within 30 s of SIGTERM")
        }
        guard status == 0 else { throw TestFailure("broker exited \(status); stderr: \(child.errors.current)") }
        guard let text = child.output.wait(for: "\nsummary ", timeout: .seconds(5)),
              let line = text.split(separator: "\n").last(where: { $0.hasPrefix("summary ") }) else {
            throw TestFailure("no summary line in broker output")
        }
        var counters: [String: Int] = [:]
        for part in line.dropFirst("summary ".count).split(separator: " ") {
            let pair = part.split(separator: "=")
            if pair.count == 2, let value = Int(pair[1]) { counters[String(pair[0])] = value }
        }
        return counters
    }
}

/// A `sluice-example-invoker` process.
func startInvoker(_ broker: BrokerProcess, id: String, slots: Int, duration: String, cluster: Bool = false,
                  eventLog: String? = nil) throws -> ChildProcess {
    try ChildProcess(Products.path("sluice-example-invoker"), [
        "--endpoint", broker.invokerEndpoint, "--id", id, "--slots", "\(slots)", "--duration", duration,
    ] + (cluster ? ["--cluster"] : []) + (eventLog.map { ["--event-log", $0] } ?? []))
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
