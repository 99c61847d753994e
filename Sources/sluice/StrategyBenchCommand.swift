import ArgumentParser
import Foundation
import SluiceBroker
import SluicePluginAPI
import SluiceProtocol
import SluiceStrategies

/// Measures what one placement decision costs, per strategy and cluster size.
struct StrategyBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strategy-bench",
        abstract: "Measure the cost of one placement decision per routing strategy.",
        discussion: """
            Builds clusters of each size with mixed state (load from idle to full, some \
            unhealthy or draining invokers, tags, warm containers for 50 of 200 actions), then \
            times individual decisions of every strategy through the same ClusterView the broker \
            uses. Prints nanoseconds per decision (p50, p99, max) and decisions per second.

            Build with -c release for meaningful numbers:
              swift build -c release --product sluice && .build/release/sluice strategy-bench
            """
    )

    @Option(help: "Cluster sizes to measure, comma separated.")
    var sizes = "10,100,1000"

    @Option(help: "Timed decisions per strategy and size.")
    var decisions = 20_000

    @Option(help: "Only these strategies, comma separated (default: all built-in).")
    var strategies: String?

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    func run() throws {
        let registry = BuiltInStrategies.registry
        let names = strategies?.split(separator: ",").map(String.init) ?? registry.names
        let clusterSizes = sizes.split(separator: ",").compactMap { Int($0) }
        guard !clusterSizes.isEmpty, decisions > 0 else { throw ValidationError("--sizes and --decisions must be positive") }
        if !json {
            print("strategy             invokers   p50 ns   p99 ns   max ns   decisions/s   placed")
        }
        for name in names {
            for size in clusterSizes {
                var generator = SeededGenerator(seed: UInt64(size))
                let snapshots = Self.cluster(size: size, using: &generator)
                let view = ClusterView(snapshots)
                var strategy = try registry.make(name)
                for invoker in snapshots { strategy.invokerJoined(invoker) }
                let requests = (0..<1024).map { Self.request($0, using: &generator) }
                for index in 0..<1_000 { _ = strategy.place(requests[index % requests.count], in: view) }

                var samples = [UInt64](repeating: 0, count: decisions)
                var placed = 0
                let clock = ContinuousClock()
                let total = clock.measure {
                    for index in 0..<decisions {
                        let start = clock.now
                        let decision = strategy.place(requests[index % requests.count], in: view)
                        samples[index] = start.duration(to: clock.now).nanosecondCount
                        if case .place = decision { placed += 1 }
                    }
                }
                samples.sort()
                let p50 = samples[samples.count / 2]
                let p99 = samples[min(samples.count - 1, samples.count * 99 / 100)]
                let perSecond = Double(decisions) / (Double(total.nanosecondCount) / 1e9)
                if json {
                    print(#"{"strategy":"\#(name)","invokers":\#(size),"p50_ns":\#(p50),"p99_ns":\#(p99),"max_ns":\#(samples.last!),"decisions_per_second":\#(Int(perSecond)),"placed_share":\#(Double(placed) / Double(decisions))}"#)
                } else {
                    print(name.padding(toLength: 20, withPad: " ", startingAt: 0),
                          String(format: "%9d %8llu %8llu %8llu %13.0f   %5.1f%%", size, p50, p99, samples.last!, perSecond,
                                 100 * Double(placed) / Double(decisions)))
                }
            }
        }
    }

    static func cluster(size: Int, using generator: inout SeededGenerator) -> [InvokerSnapshot] {
        (0..<size).map { position in
            let slots = UInt32(16)
            let inFlight = Int.random(in: 0...16, using: &generator)
            let health: InvokerHealth = Int.random(in: 0..<20, using: &generator) == 0 ? .unhealthy : .healthy
            var warm: [String: WarmReport.Entry] = [:]
            for _ in 0..<Int.random(in: 0...8, using: &generator) {
                let action = "guest/action\(Int.random(in: 0..<50, using: &generator))"
                warm[action] = WarmReport.Entry(action: action, idle: UInt16.random(in: 0...1, using: &generator), total: 1)
            }
            return InvokerSnapshot(
                id: "invoker\(position)", position: position, memoryMB: 4096, slots: slots,
                freeMemoryMB: 4096 - UInt32(inFlight) * 256, freeSlots: slots - UInt32(inFlight), inFlight: inFlight,
                health: health, draining: Int.random(in: 0..<50, using: &generator) == 0,
                tags: position % 10 == 0 ? ["gpu"] : [], warm: warm)
        }
    }

    static func request(_ index: Int, using generator: inout SeededGenerator) -> PlacementRequest {
        let action = Int.random(in: 0..<200, using: &generator)
        return PlacementRequest(header: RoutingHeader(
            activationID: "bench\(index)", namespace: "guest", action: "guest/action\(action)", memoryMB: 256,
            targetInvoker: "invoker\(index % 7)",
            requiredTags: index % 50 == 0 ? ["gpu"] : []))
    }
}

extension Duration {
    var nanosecondCount: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
