import ArgumentParser
import CZeroMQ
import Foundation
import SluiceBroker
import SluiceCore
import SluicePluginAPI
import SluiceProtocol
import SluiceStrategies

/// Measures the heap the broker's core keeps per activation in flight, with no sockets, no
/// libzmq and no other process in the way: the live-memory half of the figure that
/// `sluice bench --hold` measures as RSS.
struct MemoryBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory-bench",
        abstract: "Measure the core's heap per activation in flight (no sockets).",
        discussion: """
            Registers the invokers and one controller with a real BrokerCore (the least-loaded \
            strategy), places --hold activations with OpenWhisk-shaped ids (32 hex digits) and \
            an empty payload, and reads the allocator's bytes in use (mallinfo2) before and \
            after. Then completes them all and reads it again: what is left is not given back.

            `sluice bench --hold` measures the whole broker's RSS instead, which adds libzmq's \
            per-connection buffers and pages the allocator keeps. Build with -c release:
              swift build -c release --product sluice && .build/release/sluice memory-bench
            """
    )

    @Option(help: "Activations to hold in flight.")
    var hold = 100_000

    @Option(help: "Invokers, each with --slots slots.")
    var invokers = 1_000

    @Option(help: "Slots per invoker.")
    var slots = 112

    @Option(help: "Instead: serve this many activations in a steady stream (--window in flight) and print the core's heap every tenth of the way: nothing should grow with the number served.")
    var served: Int?

    @Option(help: "With --served: activations in flight at once.")
    var window = 256

    func run() throws {
        if let served {
            try runServed(served)
            return
        }
        guard hold > 0, invokers > 0, slots > 0 else { throw ValidationError("--hold, --invokers and --slots must be positive") }
        guard invokers * slots >= hold else {
            throw ValidationError("\(invokers) invokers x \(slots) slots cannot hold \(hold) activations; raise --invokers or --slots")
        }
        var core = BrokerCore<[UInt8]>(configuration: BrokerConfiguration(), strategy: try BuiltInStrategies.registry.make("least-loaded"))
        var actions: [BrokerAction<[UInt8]>] = []
        var clock = Timestamp.zero
        func feed(_ endpoint: Endpoint, _ route: RoutingID, _ message: Message, opaque: [UInt8]? = nil) {
            clock = clock + .microseconds(1)
            actions.removeAll(keepingCapacity: true)
            core.handle(.received(endpoint, route, .success(message), opaque: opaque), now: clock, into: &actions)
        }
        let invokerRoutes = (0..<invokers).map { RoutingID(Array("i\($0)".utf8)) }
        for (index, route) in invokerRoutes.enumerated() {
            feed(.invoker, route, .invokerHello(InvokerHello(invokerID: "invoker\(index)", memoryMB: UInt32(slots) * 256, slots: UInt32(slots))))
        }
        let controller = RoutingID(Array("c0".utf8))
        feed(.controller, controller, .controllerHello(controllerID: "controller0"))

        // Everything this tool keeps is allocated before the first reading, so the
        // difference is the core's alone.
        let indexByRoute = Dictionary(uniqueKeysWithValues: invokerRoutes.enumerated().map { ($0.element, Int32($0.offset)) })
        var placedOn = [Int32](repeating: -1, count: hold)
        actions.reserveCapacity(64)
        let idle = Self.heapInUse()
        for sequence in 0..<hold {
            feed(.controller, controller, .activate(RoutingHeader(activationID: Self.activationID(sequence), namespace: "guest", action: "guest/hello")), opaque: [])
            for action in actions {
                if case .send(.invoker, let route, .dispatch, _) = action { placedOn[sequence] = indexByRoute[route] ?? -1 }
            }
        }
        let held = Self.heapInUse()
        let placed = placedOn.count(where: { $0 >= 0 })
        guard placed == hold, core.inFlightCount == hold else {
            throw ValidationError("only \(placed) of \(hold) activations were placed")
        }
        for (sequence, invoker) in placedOn.enumerated() {
            let completion = CompletionHeader(activationID: Self.activationID(sequence), includesResult: true, systemError: false, outcome: .success)
            feed(.invoker, invokerRoutes[Int(invoker)], .completion(completion), opaque: [])
        }
        let after = Self.heapInUse()
        let perActivation = Double(held - idle) / Double(hold)
        print("core heap in use: \(Self.mib(idle)) idle, \(Self.mib(held)) with \(hold) in flight: "
              + String(format: "%.0f B per activation in flight", perActivation))
        print("after all \(hold) completed: \(Self.mib(after)) (\(core.inFlightCount) in flight)")
    }

    /// A steady stream through the core: `window` in flight, each new activation completes
    /// the oldest. The heap should level off once the window is full (issue 13, item 19).
    func runServed(_ total: Int) throws {
        guard total > 0, window > 0, invokers * slots >= window else {
            throw ValidationError("--served and --window must be positive, and --invokers x --slots at least --window")
        }
        var core = BrokerCore<[UInt8]>(configuration: BrokerConfiguration(), strategy: try BuiltInStrategies.registry.make("least-loaded"))
        var actions: [BrokerAction<[UInt8]>] = []
        actions.reserveCapacity(64)
        var clock = Timestamp.zero
        func feed(_ endpoint: Endpoint, _ route: RoutingID, _ message: Message, opaque: [UInt8]? = nil) {
            clock = clock + .microseconds(20)
            actions.removeAll(keepingCapacity: true)
            core.handle(.received(endpoint, route, .success(message), opaque: opaque), now: clock, into: &actions)
            // Heartbeats and deadlines run as in a broker: a tick every 20 ms of virtual time.
            if clock.nanoseconds % 20_000_000 < 20_000 { core.handle(.tick, now: clock, into: &actions) }
        }
        let invokerRoutes = (0..<invokers).map { RoutingID(Array("i\($0)".utf8)) }
        for (index, route) in invokerRoutes.enumerated() {
            feed(.invoker, route, .invokerHello(InvokerHello(invokerID: "invoker\(index)", memoryMB: UInt32(slots) * 256, slots: UInt32(slots))))
        }
        let controller = RoutingID(Array("c0".utf8))
        feed(.controller, controller, .controllerHello(controllerID: "controller0"))
        let indexByRoute = Dictionary(uniqueKeysWithValues: invokerRoutes.enumerated().map { ($0.element, $0.offset) })
        var ring = [(sequence: Int, invoker: Int)](repeating: (0, 0), count: window)
        print("core heap in use while serving \(total) activations, \(window) in flight (mallinfo2):")
        for sequence in 0..<total {
            if sequence >= window {
                let oldest = ring[sequence % window]
                feed(.invoker, invokerRoutes[oldest.invoker],
                     .completion(CompletionHeader(activationID: Self.activationID(oldest.sequence), includesResult: true)), opaque: [])
                // Every invoker heartbeats now and then, as a live one does.
                if sequence % 1_000 == 0 { for route in invokerRoutes { feed(.invoker, route, .heartbeat) } ; feed(.controller, controller, .heartbeat) }
            }
            feed(.controller, controller, .activate(RoutingHeader(activationID: Self.activationID(sequence), namespace: "guest", action: "guest/hello")), opaque: [])
            for action in actions {
                if case .send(.invoker, let route, .dispatch, _) = action { ring[sequence % window] = (sequence, indexByRoute[route] ?? 0) }
            }
            if (sequence + 1) % max(total / 10, 1) == 0 {
                print(String(format: "  %10d served  %@  (%d in flight, %d answered)", sequence + 1, Self.mib(Self.heapInUse()),
                             core.inFlightCount, core.counters.answered))
            }
        }
    }

    static func activationID(_ sequence: Int) -> String {
        let hex = String(sequence, radix: 16)
        return String(repeating: "0", count: max(0, 32 - hex.count)) + hex
    }

    static func heapInUse() -> Int {
        Int(sluice_heap_in_use())
    }

    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
