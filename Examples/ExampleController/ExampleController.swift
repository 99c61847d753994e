import ArgumentParser
import Foundation
import Synchronization
import SluiceClient
import SluiceProtocol

/// Sends N activations through a Sluice broker, keeping a window in flight, and prints a
/// summary of the answers.
@main
struct ExampleController: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-example-controller",
        abstract: "Sends activations through a Sluice broker and summarises the answers.",
        discussion: """
            Keeps --window activations outstanding until --count have been answered, checks \
            every result against the example invoker's format, and prints answers by kind, \
            throughput and latency percentiles. Exits 1 if any activation went unanswered or \
            came back with wrong bytes.

            SIGTERM or SIGINT (Ctrl-C) stops sending: the activations already sent are waited \
            for, and the summary covers those (a second signal ends the wait at once).

            Example: sluice-example-controller --count 10000 --window 64
            """
    )

    @Option(help: "The broker's controller endpoint.")
    var endpoint = "tcp://127.0.0.1:5671"

    @Option(help: "Controller id ([A-Za-z0-9._-]{1,128}).")
    var id = "controller0"

    @Option(help: "Activations to send.")
    var count = 1000

    @Option(help: "Activations kept outstanding at once.")
    var window = 64

    @Option(help: "Payload size, bytes.")
    var payloadBytes = 1024

    @Option(help: "Memory per activation, MB.")
    var memory: UInt32 = 256

    @Option(help: "Action time limit, ms.")
    var timeLimit: UInt32 = 60_000

    @Option(help: "Namespace and action, namespace/action.")
    var action = "guest/hello"

    @Flag(help: "Take part in a cluster (docs/CLUSTER.md): --endpoint is a seed; the other members are learned from it and each activation goes to one of them. Answers brokerLost when a broker is lost.")
    var cluster = false

    @Option(help: "With --cluster: how a broker is picked per activation (action-affinity, power-of-two).")
    var brokerChoice = "action-affinity"

    @Option(help: "Append one line per activation sent and per answer to this file (`sent <activation id> <ns>`, `answer <activation id> <kind> <ns>`, monotonic ns), for checkers.")
    var eventLog: String?

    @Option(help: "Spread activations over this many actions (<action>-0 ... <action>-N-1), as a real platform runs many.")
    var actions = 1

    @Option(help: "With --actions: pick actions by a Zipf law of this exponent (1.0: the usual popularity skew) instead of in turn.")
    var zipf: Double?

    /// An index drawn from cumulative weights.
    static func pick(_ cumulative: [Double]) -> Int {
        let draw = Double.random(in: 0..<(cumulative.last ?? 1))
        return cumulative.firstIndex { draw < $0 } ?? cumulative.count - 1
    }

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        if let zipf { guard zipf > 0 else { throw ValidationError("--zipf must be positive (1.0 is the usual skew)") } }
        guard payloadBytes >= 0 else { throw ValidationError("--payload-bytes must not be negative") }
        guard action.contains("/") else { throw ValidationError("--action must look like namespace/name") }
        guard BrokerPicker.Rule(rawValue: brokerChoice) != nil else {
            throw ValidationError("--broker-choice '\(brokerChoice)' is not one of \(BrokerPicker.Rule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard actions >= 1 else { throw ValidationError("--actions must be at least 1") }
    }

    func run() async throws {
        let client: any ExampleSender
        if cluster {
            let controller = try ClusterController(id: id, seeds: [endpoint], rule: BrokerPicker.Rule(rawValue: brokerChoice) ?? .actionAffinity)
            controller.start()
            print("controller \(id) connecting to the cluster through \(endpoint)")
            guard await controller.waitUntilReady(timeout: .seconds(30)) else {
                print("controller \(id): no serving broker with invokers found through \(endpoint) within 30 s")
                throw ExitCode.failure
            }
            // The other members connect within a moment of the first MEMBERS.
            _ = await controller.waitUntilReady(brokers: 2, timeout: .seconds(2))
            print("controller \(id): brokers \(controller.brokers.map { "\($0.brokerID)@\($0.endpoint)" }.joined(separator: ", "))")
            client = controller
        } else {
            let single = try ControllerClient(id: id, endpoint: endpoint)
            single.start()
            print("controller \(id) connecting to \(endpoint)")
            await single.waitUntilWelcomed()
            client = single
        }
        print("controller \(id): sending \(count) activations, window \(window), payload \(payloadBytes) B")
        let actionCount = actions
        // Cumulative weights 1/k^s of the Zipf law over the actions.
        let zipfTable = zipf.map { exponent in
            var sum = 0.0
            return (1...max(actionCount, 1)).map { rank in
                sum += 1 / pow(Double(rank), exponent)
                return sum
            }
        }
        let baseAction = action
        let events = try eventLog.map { try ControllerEventLog(path: $0) }

        let namespace = String(action.split(separator: "/").first ?? "guest")
        let runTag = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        var sentAt: [String: ContinuousClock.Instant] = [:]
        var payloads: [String: [UInt8]] = [:]
        var sent = 0
        func next() -> (RoutingHeader, [UInt8]) {
            let activationID = "\(id)-\(runTag)-\(sent)"
            sent += 1
            let payload = Array("{\"n\":\(sent)}".utf8) + Array(repeating: UInt8(ascii: "x"), count: max(payloadBytes - 12, 0))
            sentAt[activationID] = .now
            payloads[activationID] = payload
            events?.write("sent \(activationID)")
            let name = actionCount > 1 ? "\(baseAction)-\(zipfTable.map { Self.pick($0) } ?? sent % actionCount)" : baseAction
            return (RoutingHeader(activationID: activationID, namespace: namespace, action: name, memoryMB: memory,
                                  timeLimitMilliseconds: timeLimit), payload)
        }

        // SIGTERM/SIGINT: stop sending and wait for what is out; a second one stops waiting.
        let signals = StopSignals()
        let start = ContinuousClock.now
        client.submit((0..<min(window, count)).map { _ in next() })
        var byKind: [AnswerKind: Int] = [:]
        var latencies: [Double] = []
        var wrongBytes = 0
        var answered = 0
        var lastProgress = ContinuousClock.now
        for await answer in client.answers {
            answered += 1
            byKind[answer.kind, default: 0] += 1
            events?.write("answer \(answer.activationID) \(answer.kind)")
            if let sentTime = sentAt.removeValue(forKey: answer.activationID) {
                latencies.append(Double(sentTime.duration(to: .now).components.attoseconds) / 1e15
                                 + Double(sentTime.duration(to: .now).components.seconds) * 1000)
            }
            let payload = payloads.removeValue(forKey: answer.activationID) ?? []
            if answer.kind == .success && answer.result != Array("result-of:\(answer.activationID):".utf8) + payload {
                wrongBytes += 1
            }
            let stopping = signals.count > 0
            if sent < count && !stopping { client.submit([next()]) }
            if ContinuousClock.now - lastProgress > .seconds(1) {
                lastProgress = .now
                print("controller \(id): \(answered)/\(stopping ? sent : count) answered\(stopping ? " (stopping: nothing more is sent)" : "")")
            }
            if answered == count || (stopping && answered == sent) || signals.count > 1 { break }
        }
        signals.cancel()
        let elapsed = start.duration(to: .now)
        await client.close()

        latencies.sort()
        func percentile(_ p: Double) -> String {
            guard !latencies.isEmpty else { return "-" }
            return String(format: "%.2f ms", latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))])
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("controller \(id) summary")
        if signals.count > 0 { print("  stopped by a signal after sending \(sent) of \(count)") }
        print("  sent \(sent), answered \(answered) in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", Double(answered) / max(seconds, 1e-9))) answers/s)")
        for kind in AnswerKind.allCases where byKind[kind, default: 0] > 0 {
            print("  \(kind): \(byKind[kind]!)")
        }
        print("  latency p50 \(percentile(0.5)), p99 \(percentile(0.99)), max \(percentile(1.0))")
        print("  results with wrong bytes: \(wrongBytes)")
        if answered != sent || wrongBytes > 0 { throw ExitCode.failure }
    }
}

/// What the example needs of a controller: one broker's client or a cluster's.
protocol ExampleSender: Sendable {
    var answers: AsyncStream<ControllerAnswer> { get }
    func submit(_ batch: [(RoutingHeader, [UInt8])])
    func close() async
}

extension ControllerClient: ExampleSender {}
extension ClusterController: ExampleSender {}

/// Counts SIGTERM and SIGINT (set aside from their default action) until cancelled.
final class StopSignals: Sendable {
    private final class Count: Sendable { let value = Mutex(0) }
    private let received = Count()
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]

    var count: Int { received.value.withLock { $0 } }

    init() {
        unblockTerminationSignals()
        let received = received
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { received.value.withLock { $0 += 1 } }
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}

/// One line per event, appended at once (O_APPEND), so a checker can read it after a kill.
final class ControllerEventLog: Sendable {
    let handle: FileHandle

    init(path: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else {
            throw ValidationError("--event-log '\(path)': cannot open it for appending (\(String(cString: strerror(errno))))")
        }
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    func write(_ event: String) {
        handle.write(Data("\(event) \(DispatchTime.now().uptimeNanoseconds)\n".utf8))
    }
}
