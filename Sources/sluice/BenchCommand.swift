import ArgumentParser
import Foundation
import SluiceMonitor
import SluiceBench

/// `sluice bench`: drive a broker with simulated controllers and invokers and measure it.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a broker's round trips per second and latency, optionally against raw ZeroMQ.",
        discussion: """
            Starts a broker (this binary's `broker` command, on ephemeral loopback ports) unless \
            --controller-endpoint and --invoker-endpoint name a running one, then drives it \
            with simulated controllers and invokers over tcp loopback. Invokers answer each \
            activation at once with a combined COMPLETION.

            Closed loop (default): every controller keeps --window activations outstanding.
            Open loop (--rate N): N activations per second in total, latency measured from each \
            activation's scheduled send time, so a stall is not hidden (no coordinated \
            omission). --rate half first runs the closed loop to find the broker's maximum and \
            then offers half of it.

            --baseline direct runs the same workload with no broker (controllers talk to \
            invokers directly over ZeroMQ) and prints broker/direct; --baseline forwarder runs \
            it through a minimal credit-based forwarder on the same ZeroMQ wrapper (a process of \
            its own, measured like the broker) and prints broker/forwarder and both CPU costs \
            per round trip; --baseline direct,forwarder runs both. --hold N measures \
            memory per activation in flight: N activations are run through first (so every \
            connection's libzmq buffers exist), the broker's RSS is sampled, N more are filled \
            in at the broker's pace and held, RSS is sampled again, then all are answered.

            Every activation must be answered exactly once: the command exits 1 and says so if \
            one is lost or answered twice. Build with -c release for meaningful numbers:
              swift build -c release --product sluice && .build/release/sluice bench --baseline direct
            """
    )

    @Option(help: "Simulated controllers (one DEALER each).")
    var controllers = 1
    @Option(help: "Closed loop: activations each controller keeps outstanding.")
    var window = 64
    @Option(help: "Open loop: activations per second in total, or 'half' (half the closed-loop maximum, measured first).")
    var rate: String?
    @Option(help: "Simulated invokers.")
    var invokers = 4
    @Option(help: "Slots per invoker.")
    var slots = 16
    @Option(help: "Activation payload, bytes.")
    var payload = 1024
    @Option(help: "Answer (result) size, bytes.")
    var answer = 200
    @Option(help: "Measured time (ms, s, m).")
    var duration: DurationArgument = DurationArgument(.seconds(5), text: "5s")
    @Option(help: "Warm-up before measuring (ms, s, m).")
    var warmup: DurationArgument = DurationArgument(.seconds(1), text: "1s")
    @Option(help: "Threads driving the invokers.")
    var invokerThreads = 1
    @Option(help: "Memory mode: warm up with this many, then hold this many in flight and report the broker's RSS growth per activation.")
    var hold: Int = 0
    @Option(help: "Also run baselines, comma-separated: 'direct' (no broker, raw ZeroMQ between the same peers), 'forwarder' (a minimal credit-based forwarding broker on the same ZeroMQ wrapper, a process of its own).")
    var baseline: String?

    var baselines: [String] { baseline.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [] }
    @Option(help: "Use a running broker's controller endpoint instead of starting one.")
    var controllerEndpoint: String?
    @Option(help: "Use a running broker's invoker endpoint instead of starting one.")
    var invokerEndpoint: String?
    @Option(help: "Process id of that running broker, to report its CPU and memory.")
    var brokerPid: Int32?
    @Option(parsing: .unconditionalSingleValue, help: "An extra argument for the broker this command starts (repeatable), e.g. --broker-arg=--strategy=round-robin.")
    var brokerArg: [String] = []
    @Flag(help: "Print the results as JSON on standard output (progress still goes to standard error).")
    var json = false
    @Option(help: "Write an SVG chart of throughput and latency over time to this file.")
    var chart: String?
    @Flag(help: "No progress lines.")
    var quiet = false
    @Option(help: "Scrape the started broker's /metrics and /status this many times a second each while measuring (0: not at all), to show what monitoring costs.")
    var scrapeRate: Double = 0

    func validate() throws {
        guard scrapeRate == 0 || (0.1...1000).contains(scrapeRate) else {
            throw ValidationError("--scrape-rate must be 0 (off) or between 0.1 and 1000 requests a second; got \(scrapeRate)")
        }
        guard controllers >= 1, invokers >= 1, slots >= 1, window >= 1, payload >= 0, answer >= 0, invokerThreads >= 1, hold >= 0 else {
            throw ValidationError("--controllers, --invokers, --slots, --window and --invoker-threads must be at least 1; sizes and --hold at least 0")
        }
        if let unknown = baselines.first(where: { $0 != "direct" && $0 != "forwarder" }) {
            throw ValidationError("--baseline takes 'direct', 'forwarder' or both, comma-separated; got '\(unknown)'")
        }
        if let rate, rate != "half", (Double(rate) ?? 0) <= 0 {
            throw ValidationError("--rate takes a positive number of activations per second, or 'half'; got '\(rate)'")
        }
        // Activations are managed (not blackbox): with the default split only the first 90 %
        // of invoker positions take them (docs/PROTOCOL.md §6.1).
        let managedSlots = Int((Double(invokers) * 0.9).rounded(.up)) * slots
        if hold > managedSlots {
            throw ValidationError("--hold \(hold) needs that many free slots, but \(invokers) invokers x \(slots) slots give managed actions only \(managedSlots) (the last 10 % of invokers take blackbox actions); raise --slots to \((hold + Int((Double(invokers) * 0.9).rounded(.up)) - 1) / Int((Double(invokers) * 0.9).rounded(.up)))")
        }
        if (controllerEndpoint == nil) != (invokerEndpoint == nil) {
            throw ValidationError("give both --controller-endpoint and --invoker-endpoint, or neither")
        }
    }

    func run() throws {
        var configuration = BenchConfiguration()
        configuration.controllers = controllers
        configuration.invokers = invokers
        configuration.slots = slots
        configuration.payloadBytes = payload
        configuration.answerBytes = answer
        configuration.duration = duration.duration
        configuration.warmup = warmup.duration
        configuration.invokerThreads = invokerThreads
        configuration.progress = !quiet
        configuration.load = .closed(window: window)
        if hold > 0 {
            configuration.holdCount = hold
            configuration.load = .closed(window: (hold + controllers - 1) / controllers)
        }

        var results: [BenchResult] = []
        let describe = "\(controllers) controller(s), \(invokers) invokers x \(slots) slots, \(payload) B payload, \(answer) B answer"
        func note(_ text: String) { if !quiet { FileHandle.standardError.write(Data((text + "\n").utf8)) } }

        func throughBroker(_ configuration: BenchConfiguration, label: String) throws -> BenchResult {
            note("sluice bench: \(label) through the broker; \(describe)")
            if let controllerEndpoint, let invokerEndpoint {
                return try Bench.run(configuration, broker: .init(controllerEndpoint: controllerEndpoint, invokerEndpoint: invokerEndpoint, pid: brokerPid))
            }
            let broker = try BrokerChild(executable: Self.ownExecutable, arguments: brokerArg)
            defer {
                if let summary = broker.stop(), !quiet { note("broker \(summary)") }
            }
            var scraper: Scraper?
            if scrapeRate > 0 {
                guard let monitor = broker.monitorEndpoint else { throw ValidationError("--scrape-rate needs the broker's monitoring endpoint (it is off)") }
                scraper = Scraper(endpoint: monitor, rate: scrapeRate)
            }
            let result: BenchResult
            do {
                result = try Bench.run(configuration, broker: .init(controllerEndpoint: broker.controllerEndpoint,
                                                                   invokerEndpoint: broker.invokerEndpoint, pid: broker.pid))
            } catch {
                _ = scraper?.stop()
                throw error
            }
            if let scraper {
                let done = scraper.stop()
                note(String(format: "scraper: %d requests to /metrics and %d to /status (%.1f a second each), %d failed, last /metrics %d bytes",
                            done.metrics, done.status, scrapeRate, done.failures, done.metricsBytes))
                if done.failures > 0 { throw ValidationError("the scraper's requests failed \(done.failures) times") }
            }
            return result
        }

        var offeredRate: Double?
        let closedLabel = hold > 0 ? "hold \(hold) in flight" : "closed loop, window \(window) per controller, \(duration)"
        if let rate {
            var offered = Double(rate) ?? 0
            if rate == "half" {
                let maximum = try throughBroker(configuration, label: closedLabel)
                results.append(maximum)
                offered = maximum.roundTripsPerSecond / 2
            }
            offeredRate = offered
            var open = configuration
            open.load = .open(rate: offered)
            results.append(try throughBroker(open, label: String(format: "open loop at %.0f activations/s, \(duration)", offered)))
        } else {
            results.append(try throughBroker(configuration, label: closedLabel))
        }
        for name in baselines {
            var other = configuration
            other.holdCount = 0
            let what = name == "direct" ? "with no broker (direct baseline)" : "through the forwarder baseline (bench-forwarder)"
            if let offeredRate {
                note(String(format: "sluice bench: the same open loop (%.0f activations/s) \(what)", offeredRate))
                other.load = .open(rate: offeredRate)
            } else {
                note("sluice bench: the same closed loop \(what)")
                other.load = .closed(window: window)
            }
            if name == "direct" {
                results.append(try Bench.run(other, broker: nil))
            } else {
                let forwarder = try BrokerChild(executable: Self.ownExecutable, forwarder: true)
                defer { forwarder.stop() }
                var result = try Bench.run(other, broker: .init(controllerEndpoint: forwarder.controllerEndpoint,
                                                                 invokerEndpoint: forwarder.invokerEndpoint, pid: forwarder.pid))
                result.mode = "forwarder"
                results.append(result)
            }
        }

        if json {
            print(try BenchReport.json(results))
        } else {
            print(BenchReport.table(results))
            for line in BenchReport.comparisons(results) { print(line) }
        }
        if let chart {
            try BenchReport.svg(results, title: "sluice bench: \(describe)").write(toFile: chart, atomically: true, encoding: .utf8)
            note("chart written to \(chart)")
        }
        guard results.allSatisfy(\.isClean) else {
            FileHandle.standardError.write(Data("sluice bench: FAILED: activations were lost, duplicated, or a peer failed (see above)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// This binary, to start `broker` from.
    static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Requests the broker's /metrics and /status `rate` times a second each, on its own task,
/// until stopped: a stand-in for Prometheus and `sluice status --watch` in `sluice bench`.
final class Scraper: @unchecked Sendable {
    struct Counts {
        var metrics = 0
        var status = 0
        var failures = 0
        var metricsBytes = 0
    }

    private let lock = NSLock()
    private var counts = Counts()
    private var running = true
    private var task: Task<Void, Never>?
    private let finished = DispatchSemaphore(value: 0)

    init(endpoint: String, rate: Double) {
        let interval = Duration.nanoseconds(Int64(1e9 / rate))
        task = Task.detached { [self] in
            var next = ContinuousClock.now
            while lock.withLock({ running }) {
                for path in ["/metrics", "/status"] {
                    do {
                        let response = try await MonitorClient.get(endpoint, path: path)
                        lock.withLock {
                            if response.status != 200 { counts.failures += 1 }
                            if path == "/metrics" { counts.metrics += 1; counts.metricsBytes = response.body.count } else { counts.status += 1 }
                        }
                    } catch {
                        lock.withLock { counts.failures += 1 }
                    }
                }
                next += interval
                try? await Task.sleep(until: next, clock: .continuous)
            }
            finished.signal()
        }
    }

    func stop() -> Counts {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { counts }
    }
}
