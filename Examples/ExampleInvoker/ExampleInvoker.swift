import ArgumentParser
import Dispatch
import Foundation
import SluiceClient
import SluiceProtocol
import Synchronization

/// A simulated invoker: takes activations from a Sluice broker, "runs" each for a while and
/// answers with a result built from the payload.
@main
struct ExampleInvoker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-example-invoker",
        abstract: "A simulated invoker for trying Sluice out.",
        discussion: """
            Each activation "runs" for a random time within --duration, then the invoker sends \
            one combined COMPLETION whose result is the bytes `result-of:<activation id>:` \
            followed by the payload, so a controller can check its bytes came back intact.

            Example: sluice-example-invoker --id invoker0 --slots 16 --duration 5ms-20ms
            """
    )

    @Option(help: "The broker's invoker endpoint.")
    var endpoint = "tcp://127.0.0.1:5672"

    @Option(help: "Invoker id ([A-Za-z0-9._-]{1,128}).")
    var id = "invoker0"

    @Option(help: "Memory for user containers, MB (default: 256 per slot, the example controller's activation size, so every slot can be used).")
    var memory: UInt32?

    @Option(help: "Concurrent activations.")
    var slots: UInt32 = 16

    @Option(help: "Simulated run time: one value (10ms) or a range (5ms-20ms).")
    var duration = "10ms"

    @Option(help: "Fraction of activations answered as a system error (0 to 1).")
    var systemErrorRate = 0.0

    @Option(help: "Send the result and the completion as two messages (RESULT then COMPLETION).")
    var splitResult = false

    @Option(help: "Print a progress line every this many activations (0: never).")
    var progressEvery = 0

    @Option(help: "Seconds an action's container stays warm after its last activation (0: report no warm containers).")
    var keepAlive = 60.0

    @Option(help: "Added to the run time when no idle container of the action is warm (a container is created): 150ms, 1s (default 0ms: none).")
    var coldStart = "0ms"

    @Option(help: "Most containers kept at once (0: no limit); a new one first evicts the idle container used least recently.")
    var containers = 0

    @Option(help: "Append one line per activation started and finished to this file (`start|end <activation id> <invoker id> <slots> <monotonic ns>`), for checkers.")
    var eventLog: String?

    @Flag(help: "Take part in a cluster (docs/CLUSTER.md): follow the members, move to a live broker when this one is lost or leaving. --endpoint is then any member's invoker endpoint.")
    var cluster = false

    func parseMilliseconds(_ text: String) throws -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("ms"), let value = Double(trimmed.dropLast(2)) { return value }
        if trimmed.hasSuffix("s"), let value = Double(trimmed.dropLast()) { return value * 1000 }
        throw ValidationError("--duration '\(text)': expected a value like 10ms, 1.5s or 5ms-20ms")
    }

    func run() throws {
        let parts = duration.split(separator: "-").map(String.init)
        guard parts.count == 1 || parts.count == 2 else { throw ValidationError("--duration '\(duration)': expected 10ms or 5ms-20ms") }
        let low = try parseMilliseconds(parts[0])
        let high = parts.count == 2 ? try parseMilliseconds(parts[1]) : low
        guard low >= 0, high >= low else { throw ValidationError("--duration '\(duration)': the range must be increasing") }
        let (perSlot, overflow) = slots.multipliedReportingOverflow(by: 256)
        let memoryMB = memory ?? (overflow ? UInt32.max : perSlot)

        let ran = Atomic<Int>(0)
        let progressEvery = progressEvery
        let systemErrorRate = systemErrorRate
        let split = splitResult
        let id = id
        let queue = DispatchQueue(label: "sluice.example.invoker.work", attributes: .concurrent)
        let holder = ClientHolder()
        let coldStartSeconds = try parseMilliseconds(coldStart) / 1000
        guard coldStartSeconds >= 0, self.containers >= 0 else { throw ValidationError("--cold-start and --containers must not be negative") }
        let containers = WarmContainers(keepAlive: keepAlive, limit: self.containers)
        let events = try eventLog.map { try EventLog(path: $0, invokerID: id, slots: slots) }
        let client = try InvokerClient(id: id, endpoint: endpoint, memoryMB: memoryMB, slots: slots, cluster: cluster) { activation in
            events?.write("start", activation.header.activationID)
            let cold = containers.start(activation.header.action)
            let milliseconds = low == high ? low : Double.random(in: low...high)
            queue.asyncAfter(deadline: .now() + milliseconds / 1000 + (cold ? coldStartSeconds : 0)) {
                guard let client = holder.client else { return }
                let result = Array("result-of:\(activation.header.activationID):".utf8) + activation.payload
                let failed = systemErrorRate > 0 && Double.random(in: 0..<1) < systemErrorRate
                let outcome: Outcome = failed ? .systemError : .success
                let warm = containers.finish(activation.header.action)
                events?.write("end", activation.header.activationID)
                if split {
                    client.sendResult(activationID: activation.header.activationID, outcome: outcome, result: result)
                    client.complete(activationID: activation.header.activationID, systemError: failed, warm: warm)
                } else {
                    client.complete(activationID: activation.header.activationID, result: (outcome, result), systemError: failed,
                                    warm: warm)
                }
                let count = ran.add(1, ordering: .relaxed).newValue
                if progressEvery > 0 && count % progressEvery == 0 {
                    say("invoker \(id): ran \(count) activations")
                }
            }
        }
        holder.client = client
        client.start()
        say("invoker \(id) connecting to \(endpoint): memory \(memoryMB) MB, \(slots) slots, run time \(duration)")
        // Run until killed: SIGINT/SIGTERM end the process; the broker answers whatever was
        // in flight `invokerLost` once heartbeats stop.
        signal(SIGPIPE, SIG_IGN)
        unblockTerminationSignals()
        while true { sleep(3600) }
    }
}

/// Lets the activation handler reach the client it belongs to.
final class ClientHolder: @unchecked Sendable {
    // Written once before `start()`, read afterwards from the work queue.
    var client: InvokerClient?
}

/// A toy container pool: one container per action per concurrent activation, kept warm for
/// `keepAlive` seconds after its last use, at most `limit` at once (0: no limit), reported to
/// the broker with each completion.
final class WarmContainers: @unchecked Sendable {
    private struct Pool { var total = 0; var running = 0; var lastUsed = Date() }
    private var pools: [String: Pool] = [:]
    private let lock = NSLock()
    let keepAlive: Double
    let limit: Int

    init(keepAlive: Double, limit: Int = 0) {
        self.keepAlive = keepAlive
        self.limit = limit
    }

    /// Starts an activation of `action`; returns true when it needs a new container (a cold start).
    func start(_ action: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        var pool = pools[action] ?? Pool()
        let cold = pool.running >= pool.total
        pool.running += 1
        pool.total = max(pool.total, pool.running)
        pool.lastUsed = Date()
        pools[action] = pool
        if cold && limit > 0 {
            // Over the limit: evict idle containers of other actions, least recently used first.
            var held = pools.values.reduce(0) { $0 + $1.total }
            while held > limit, let victim = pools.filter({ $0.key != action && $0.value.total > $0.value.running })
                .min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
                pools[victim]?.total -= 1
                if pools[victim]?.total == 0 { pools[victim] = nil }
                held -= 1
            }
        }
        return cold
    }

    /// Marks one activation of `action` done and returns the report to send, or nil when
    /// warm reporting is off.
    func finish(_ action: String) -> WarmReport? {
        lock.lock()
        defer { lock.unlock() }
        pools[action]?.running -= 1
        pools[action]?.lastUsed = Date()
        guard keepAlive > 0 else { return nil }
        let cutoff = Date().addingTimeInterval(-keepAlive)
        pools = pools.filter { $0.value.running > 0 || $0.value.lastUsed > cutoff }
        let entries = pools.prefix(WarmReport.maxEntries).map { action, pool in
            WarmReport.Entry(action: action, idle: UInt16(clamping: pool.total - pool.running), total: UInt16(clamping: max(pool.total, 1)))
        }
        return WarmReport(entries.sorted { $0.action < $1.action })
    }
}

/// Writes a line to stdout at once (unbuffered, also into a pipe), so progress shows up as it happens.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// One line per event, appended and flushed at once, so a checker can read it after a kill.
final class EventLog: Sendable {
    let handle: FileHandle
    let invokerID: String
    let slots: UInt32
    let lock = Mutex(())

    init(path: String, invokerID: String, slots: UInt32) throws {
        // O_APPEND: several invokers may share one log; each line lands whole at the end.
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else {
            throw ValidationError("--event-log '\(path)': cannot open it for appending (\(String(cString: strerror(errno))))")
        }
        self.handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        self.invokerID = invokerID
        self.slots = slots
    }

    func write(_ kind: String, _ activationID: String) {
        let line = "\(kind) \(activationID) \(invokerID) \(slots) \(DispatchTime.now().uptimeNanoseconds)\n"
        lock.withLock { _ in handle.write(Data(line.utf8)) }
    }
}
