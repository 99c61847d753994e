import ArgumentParser
import Foundation
import SluiceCore
import SluiceProtocol
import SluiceStrategies
import SluiceTransport
import ZeroMQ

/// Measures the broker loop's own work per round trip with no sockets: decoding the received
/// frames, the core, and encoding what it sends. What is left of `sluice bench`'s broker CPU
/// per round trip after this is libzmq, its I/O thread and the kernel (docs/PERFORMANCE.md).
struct CoreBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core-bench",
        abstract: "Measure the loop's decode, core and encode work per round trip (no sockets).",
        discussion: """
            Runs ACTIVATE and COMPLETION messages through what the broker's loop does with them: \
            frames held in ZeroMQ messages as libzmq delivers them, Wire.decode, BrokerCore.handle \
            (least-loaded, placement batched per turn as in the broker) and the encoding of every \
            DISPATCH and ANSWER it sends. Nothing is sent. Prints nanoseconds of CPU per round \
            trip, for the whole and for each part. Build with -c release:
              swift build -c release --product sluice && .build/release/sluice core-bench
            """
    )

    @Option(help: "Round trips to run (after a warm-up of a tenth as many).")
    var roundTrips = 2_000_000

    @Option(help: "Invokers, each with --slots slots.")
    var invokers = 4

    @Option(help: "Slots per invoker.")
    var slots = 16

    @Option(help: "Activations outstanding (a closed loop, like sluice bench --window).")
    var window = 64

    @Option(help: "Activations taken per loop turn before the end-of-batch placement pass.")
    var batch = 16

    @Option(help: "Payload bytes per activation.")
    var payload = 1024

    @Option(help: "Timed runs of --round-trips each; the fastest is reported (this machine's other load only ever adds time).")
    var repeats = 5

    func run() throws {
        guard roundTrips > 0, invokers > 0, slots > 0, window > 0, batch > 0, repeats > 0 else {
            throw ValidationError("--round-trips, --invokers, --slots, --window, --batch and --repeats must be positive")
        }
        var bench = try CoreBench(invokers: invokers, slots: slots, payload: payload)
        bench.run(roundTrips / 10 + 1, window: window, batch: batch)
        var runs: [(total: UInt64, parts: CoreBench.Parts)] = []
        for _ in 0..<repeats {
            bench.parts = CoreBench.Parts()
            let started = CoreBench.cpuNanoseconds()
            bench.run(roundTrips, window: window, batch: batch)
            runs.append((CoreBench.cpuNanoseconds() - started, bench.parts))
        }
        let perRun = runs.map { Double($0.total) / Double(roundTrips) }
        let best = runs.min { $0.total < $1.total }!
        print(String(format: "loop work per round trip (decode + core + encode + the bench's frame building): best %.0f ns CPU of %d runs (%@)",
                     Double(best.total) / Double(roundTrips), repeats, perRun.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
        print("  \(roundTrips) round trips per run, \(invokers) invokers x \(slots) slots, window \(window), batch \(batch), \(payload) B payload")
        let parts = best.parts
        for (name, nanoseconds) in [("decode", parts.decode), ("core", parts.core), ("encode", parts.encode)] {
            print(String(format: "  %-7@ %6.0f ns per round trip (ACTIVATE and COMPLETION in, DISPATCH and ANSWER out)",
                         name as NSString, Double(nanoseconds) / Double(roundTrips)))
        }
        guard bench.answered == bench.sent else {
            throw ValidationError("\(bench.sent) activations sent, \(bench.answered) answered: the bench lost work")
        }
    }
}

/// The state of one core-bench run: a core, and the frames its peers would send.
struct CoreBench {
    struct Parts { var decode: UInt64 = 0; var core: UInt64 = 0; var encode: UInt64 = 0 }

    var core: BrokerCore<SharedFrame>
    var actions: [BrokerAction<SharedFrame>] = []
    var parts = Parts()
    var clock = Timestamp.zero
    let controller = RoutingID(Array("controller-route".utf8))
    let invokerRoutes: [RoutingID]
    let invokerIndex: [RoutingID: Int]
    let payload: [UInt8]
    let result = [UInt8](repeating: 0x7B, count: 200)
    var sent = 0
    var answered = 0
    /// DISPATCHes not completed yet, per invoker: (activation id).
    var running: [[String]]
    var frames: [ZMQMessage] = []
    var encodeBuffer: [UInt8] = []
    var decodeScratch: [RawFrame] = []
    let clockSource = ContinuousClock()

    init(invokers: Int, slots: Int, payload: Int) throws {
        var configuration = BrokerConfiguration()
        configuration.batchesPlacement = true
        core = BrokerCore(configuration: configuration, strategy: try BuiltInStrategies.registry.make("least-loaded"))
        invokerRoutes = (0..<invokers).map { RoutingID(Array("invoker-route-\($0)".utf8)) }
        invokerIndex = Dictionary(uniqueKeysWithValues: invokerRoutes.enumerated().map { ($0.element, $0.offset) })
        self.payload = [UInt8](repeating: 0x41, count: payload)
        running = Array(repeating: [], count: invokers)
        for (index, route) in invokerRoutes.enumerated() {
            receive(.invoker, route, .invokerHello(InvokerHello(invokerID: "invoker\(index)", memoryMB: UInt32(slots) * 256, slots: UInt32(slots))))
        }
        receive(.controller, controller, .controllerHello(controllerID: "controller0"))
        actions.removeAll()
    }

    static func cpuNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    func elapsed(since start: ContinuousClock.Instant) -> UInt64 {
        UInt64(start.duration(to: clockSource.now).nanoseconds)
    }

    /// Frames of `message` as ZeroMQ messages (the routing id is not among them, as after a
    /// ROUTER receive), decoded, handled and the sends encoded.
    mutating func receive(_ endpoint: Endpoint, _ route: RoutingID, _ message: Message, opaque: [UInt8] = []) {
        frames.removeAll(keepingCapacity: true)
        for frame in Codec.encode(message, opaque: opaque) { frames.append(ZMQMessage(bytes: frame)) }
        clock = clock + .microseconds(10)
        var start = clockSource.now
        let (decoded, frame) = Wire.decode(frames[...], channel: endpoint == .controller ? .controllerToBroker : .invokerToBroker,
                                            scratch: &decodeScratch)
        parts.decode += elapsed(since: start)
        start = clockSource.now
        core.handleReceived(endpoint, route, decoded, opaque: frame.map(SharedFrame.init), now: clock, into: &actions)
        parts.core += elapsed(since: start)
        executeActions()
    }

    mutating func endOfBatch() {
        let start = clockSource.now
        core.handle(.endOfBatch, now: clock, into: &actions)
        parts.core += elapsed(since: start)
        executeActions()
    }

    mutating func executeActions() {
        let start = clockSource.now
        // As the broker's loop does: each action moved out of the array, not copied.
        for index in actions.indices {
            var action = BrokerAction<SharedFrame>.overflowConsume(activationID: "")
            swap(&action, &actions[index])
            guard case .send(_, let route, let message, _) = consume action else { continue }
            // As the broker's sends do: into one reused buffer (`ZMQSocket.encodeBuffer`).
            _ = Codec.encodeBody(message, into: &encodeBuffer)
            _ = Codec.encodeTrailer(message)
            switch message {
            case .dispatch(let header): running[invokerIndex[route]!].append(header.activationID)
            case .answer: answered += 1
            default: break
            }
        }
        parts.encode += elapsed(since: start)
        actions.removeAll(keepingCapacity: true)
    }

    /// A closed loop: `window` outstanding; each turn completes what the invokers run (in
    /// batches of `batch` messages) and sends one new activation per answer.
    mutating func run(_ count: Int, window: Int, batch: Int) {
        let target = sent + count
        let answeredBefore = answered
        while answered - answeredBefore < count {
            // Top the window up from the controller.
            var taken = 0
            while sent - answered < window && sent < target {
                receive(.controller, controller, .activate(RoutingHeader(activationID: MemoryBenchCommand.activationID(sent), namespace: "guest",
                                                                         action: "guest/hello-world", memoryMB: 256)),
                        opaque: payload)
                sent += 1
                taken += 1
                if taken % batch == 0 { endOfBatch() }
            }
            endOfBatch()
            // Every invoker completes what it runs, a batch at a time.
            taken = 0
            for index in running.indices {
                let ids = running[index]
                running[index].removeAll(keepingCapacity: true)
                for id in ids {
                    receive(.invoker, invokerRoutes[index], .completion(CompletionHeader(activationID: id, includesResult: true)), opaque: result)
                    taken += 1
                    if taken % batch == 0 { endOfBatch() }
                }
            }
            endOfBatch()
        }
    }
}
