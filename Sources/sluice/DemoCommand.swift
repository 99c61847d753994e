import ArgumentParser
import Foundation
import SluiceBench
import SluiceMonitor

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Watch Sluice work: a broker, simulated invokers and a controller, with the live view.",
        discussion: """
            Starts, in this one process group: a broker (a child `sluice broker` on free \
            loopback ports, its log in a file), --invokers simulated invokers \
            (sluice-example-invoker) and a controller keeping --window activations \
            outstanding (sluice-example-controller). Then it shows the broker's live view \
            (`sluice status --watch`) while it:

              at --swap-after:    swaps the routing strategy (least-loaded to round-robin) \
            by rewriting the broker's configuration file, as an operator would;
              at --kill-after:    SIGKILLs one invoker: its in-flight work is answered \
            invokerLost within the liveness window, the rest goes on;
              at --restart-after: starts a new invoker, which takes work at once.

            Ctrl-C (or --duration) stops everything and prints the broker's summary. The \
            helper programs are looked for next to this executable: build them with \
            `swift build -c release` (scripts/demo.sh does).
            """
    )

    @Option(help: "Simulated invokers.")
    var invokers = 4

    @Option(help: "Slots per invoker.")
    var slots = 4

    @Option(help: "Simulated run time of an activation: one value or a range.")
    var runTime = "20ms-120ms"

    @Option(help: "Activations the controller keeps outstanding.")
    var window = 24

    @Option(help: "When to swap the routing strategy (0s: never).")
    var swapAfter = DurationArgument(.seconds(10), text: "10s")

    @Option(help: "When to kill an invoker (0s: never).")
    var killAfter = DurationArgument(.seconds(20), text: "20s")

    @Option(help: "When to start a new invoker (0s: never).")
    var restartAfter = DurationArgument(.seconds(30), text: "30s")

    @Option(help: "Stop after this long (default: run until Ctrl-C).")
    var duration: DurationArgument?

    @Flag(help: "Print each refresh after the last instead of redrawing the screen.")
    var plain = false

    func validate() throws {
        guard (1...64).contains(invokers) else { throw ValidationError("--invokers must be between 1 and 64") }
        guard slots >= 1, window >= 1 else { throw ValidationError("--slots and --window must be at least 1") }
    }

    /// A helper program next to this executable.
    static func helper(_ name: String) throws -> String {
        let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let path = directory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("\(name) is not built next to \(directory.path); run `swift build -c release` (or scripts/demo.sh)")
        }
        return path
    }

    static func start(_ path: String, _ arguments: [String], log: FileHandle) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    func run() async throws {
        let invokerPath = try Self.helper("sluice-example-invoker")
        let controllerPath = try Self.helper("sluice-example-controller")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-demo-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let config = folder.appendingPathComponent("broker.yaml")
        try "routing:\n  strategy: least-loaded\n".write(to: config, atomically: true, encoding: .utf8)
        let logPath = folder.appendingPathComponent("demo.log")
        _ = FileManager.default.createFile(atPath: logPath.path, contents: nil)
        let log = try FileHandle(forWritingTo: logPath)

        let broker = try BrokerChild(executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path, arguments: [
            "--config", config.path, "--log-level", "info", "--heartbeat-interval", "500ms", "--liveness", "3",
        ], errors: log)
        var children: [String: Process] = [:]
        var controller: Process?
        var stoppedCleanly = false
        // Whatever ends the demo (an error included), nothing it started is left running.
        defer {
            if !stoppedCleanly {
                if let controller, controller.isRunning { kill(controller.processIdentifier, SIGKILL) }
                for child in children.values where child.isRunning { kill(child.processIdentifier, SIGKILL) }
                _ = broker.stop()
            }
        }
        guard let monitor = broker.monitorEndpoint else { throw ValidationError("the broker started without a monitoring endpoint") }
        func startInvoker(_ id: String) throws {
            children[id] = try Self.start(invokerPath, ["--endpoint", broker.invokerEndpoint, "--id", id, "--slots", "\(slots)",
                                                        "--duration", runTime], log: log)
        }
        for index in 0..<invokers { try startInvoker("invoker-\(index)") }
        let load = try Self.start(controllerPath, ["--endpoint", broker.controllerEndpoint, "--id", "demo-controller",
                                                         "--count", "1000000000", "--window", "\(window)", "--payload-bytes", "256"], log: log)
        controller = load

        // Ctrl-C: stop the loop below; children in this process group got it too.
        let interrupted = InterruptFlag(watching: [SIGINT])

        let started = ContinuousClock.now
        var events: [String] = ["broker started: controllers \(broker.controllerEndpoint), invokers \(broker.invokerEndpoint), monitor http://\(monitor)",
                                "\(invokers) invokers x \(slots) slots, run time \(runTime); controller keeps \(window) outstanding"]
        var swapped = false, killed = false, restarted = false
        var previous: (document: StatusDocument, at: ContinuousClock.Instant)?
        let terminal = isatty(STDOUT_FILENO) == 1 && !plain
        while !interrupted.isSet {
            let elapsed = started.duration(to: .now)
            if let duration, elapsed >= duration.duration { break }
            let stamp = "\(elapsed.components.seconds)s"
            if !swapped && swapAfter.duration > .zero && elapsed >= swapAfter.duration {
                swapped = true
                try "routing:\n  strategy: round-robin\n".write(to: config, atomically: true, encoding: .utf8)
                kill(broker.pid, SIGHUP)
                events.append("\(stamp): routing strategy least-loaded -> round-robin (config file rewritten, SIGHUP); nothing in flight is touched")
            }
            if !killed && killAfter.duration > .zero && elapsed >= killAfter.duration, let victim = children["invoker-0"] {
                killed = true
                kill(victim.processIdentifier, SIGKILL)
                children["invoker-0"] = nil
                events.append("\(stamp): SIGKILL invoker-0; its in-flight work is answered invokerLost within the liveness window (1.5 s)")
            }
            if !restarted && restartAfter.duration > .zero && elapsed >= restartAfter.duration {
                restarted = true
                try startInvoker("invoker-new")
                events.append("\(stamp): started invoker-new; it takes work as soon as it says HELLO")
            }
            do {
                let response = try await MonitorClient.get(monitor, path: "/status")
                let document = try StatusDocument.decode(Data(response.body))
                let at = ContinuousClock.now
                let interval = previous.map { $0.at.duration(to: at) }.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
                var text = StatusView.render(document, endpoint: monitor, previous: previous?.document, interval: interval, maxRows: 20)
                text += "\nDEMO (\(stamp); Ctrl-C to stop; broker log: \(logPath.path))\n" + events.map { "  " + $0 }.joined(separator: "\n") + "\n"
                FileHandle.standardOutput.write(Data(((terminal ? "\u{1B}[H\u{1B}[2J" : "\n") + text).utf8))
                previous = (document, at)
            } catch {
                FileHandle.standardOutput.write(Data("demo: cannot read the broker's status: \(error)\n".utf8))
            }
            try? await Task.sleep(for: .seconds(1))
        }

        // Stop intake first, then the broker (which answers what is left), then the invokers.
        // The helpers are simulations: SIGKILL (a signal mask inherited from this process's
        // threads may block SIGTERM in them).
        kill(load.processIdentifier, SIGKILL)
        load.waitUntilExit()
        let summary = broker.stop()
        stoppedCleanly = true
        for child in children.values where child.isRunning { kill(child.processIdentifier, SIGKILL) }
        for child in children.values { child.waitUntilExit() }
        interrupted.stopWatching()
        var lines = ["", "demo stopped after \(started.duration(to: .now).components.seconds)s; broker log and config in \(folder.path)"]
        if let summary {
            let fields = Dictionary(summary.split(separator: " ").compactMap { part -> (String, String)? in
                let pair = part.split(separator: "=", maxSplits: 1)
                return pair.count == 2 ? (String(pair[0]), String(pair[1])) : nil
            }, uniquingKeysWith: { _, last in last })
            lines.append("broker summary: received \(fields["activations_received"] ?? "?"), answered \(fields["answered"] ?? "?") "
                + "(success \(fields["answered_success"] ?? "?"), invokerLost \(fields["answered_invokerLost"] ?? "?"), "
                + "overloaded \(fields["answered_overloaded"] ?? "?")), strategy swaps \(fields["strategy_swaps"] ?? "?"), "
                + "invokers lost \(fields["invokers_lost"] ?? "?")")
            lines.append(summary)
        }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// Set when one of the watched signals arrives (they no longer end the process), read by a
/// command's loop.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    private var sources: [any DispatchSourceSignal] = []

    init(watching signals: [Int32]) {
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.set() }
            source.resume()
            return source
        }
    }

    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
    func stopWatching() { lock.withLock { sources }.forEach { $0.cancel() } }
}
