import ArgumentParser
import Foundation
import SluiceMonitor

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what a running broker is doing, from its monitoring endpoint.",
        discussion: """
            Reads GET /status of a running broker (`sluice broker` serves it on \
            127.0.0.1:5680 by default) and prints it as tables: counters, what waits and \
            runs now, free capacity, the overflow store, the loop's health, then one row per \
            invoker, controller and waiting namespace.

            --watch refreshes every --interval (default 1s) like top, with rates per second \
            next to the totals; Ctrl-C ends it. In a terminal the screen is redrawn in place; \
            piped, each refresh is printed after the last.

            Exit status: 0 when the broker answered, 1 when it could not be reached (the \
            error names the endpoint).
            """
    )

    @Option(help: ArgumentHelp("The broker's monitoring endpoint.", valueName: "host:port"))
    var endpoint = "127.0.0.1:5680"

    @Flag(help: "Refresh until interrupted, with rates per second.")
    var watch = false

    @Option(help: "Refresh interval with --watch (default 1s).")
    var interval = DurationArgument(.seconds(1), text: "1s")

    @Flag(help: "Print the raw JSON document instead of tables.")
    var json = false

    @Option(help: "Rows shown per table (default 40).")
    var rows = 40

    func validate() throws {
        guard interval.duration >= .milliseconds(100) else { throw ValidationError("--interval must be at least 100ms") }
        guard rows >= 1 else { throw ValidationError("--rows must be at least 1") }
    }

    func fetch() async throws -> (StatusDocument, Data) {
        let response: MonitorClient.Response
        do {
            response = try await MonitorClient.get(endpoint, path: "/status")
        } catch {
            throw Self.failure("\(error)")
        }
        guard response.status == 200 else {
            throw Self.failure("\(endpoint)/status answered HTTP \(response.status): \(response.text)")
        }
        let data = Data(response.body)
        do {
            return (try StatusDocument.decode(data), data)
        } catch {
            throw Self.failure("\(endpoint)/status is not a Sluice status document: \(error)")
        }
    }

    /// A broker that cannot be read is not a usage mistake: the reason on standard error, exit 1.
    static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        return ExitCode.failure
    }

    func run() async throws {
        let terminal = isatty(STDOUT_FILENO) == 1
        var previous: (document: StatusDocument, at: ContinuousClock.Instant)?
        repeat {
            let (document, data) = try await fetch()
            let at = ContinuousClock.now
            if json {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            } else {
                let interval = previous.map { $0.at.duration(to: at) }.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
                var text = StatusView.render(document, endpoint: endpoint, previous: previous?.document, interval: interval, maxRows: rows)
                if watch {
                    text = (terminal ? "\u{1B}[H\u{1B}[2J" : "\n") + text + (terminal ? "\n(every \(self.interval.text); Ctrl-C to stop)\n" : "")
                }
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            previous = (document, at)
            if watch { try await Task.sleep(for: interval.duration) }
        } while watch
    }
}
