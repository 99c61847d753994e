import Foundation
import SluiceClient
import SluiceProtocol
import Testing

extension BrokerEndToEndTests {
    @Test("Changing routing.strategy in the config file swaps the strategy under load: nothing lost or doubled; a bad file is refused")
    func strategySwapUnderLoad() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-swap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("sluice.yaml")
        let write: @Sendable (String) throws -> Void = { routing in
            try """
                broker:
                  heartbeat-interval: 500ms
                routing:
                \(routing)
                """.write(to: file, atomically: true, encoding: .utf8)
        }
        try write("  strategy: least-loaded\n")

        let broker = try BrokerProcess(["--config", file.path, "--log-level", "notice"])
        let invokers = try (0..<2).map { try startInvoker(broker, id: "swap\($0)", slots: 8, duration: "1ms-4ms") }
        defer { invokers.forEach { $0.signal(SIGKILL) } }
        let controller = try ControllerClient(id: "swapper", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))

        // Swap after 500 answers, while work is waiting and in flight.
        let swapped = Locked(false)
        let result = await drive(controller, prefix: "swap", count: 3_000, window: 48, timeout: .seconds(120)) { _ in
            let now = swapped.withLock { done -> Bool in
                defer { done = true }
                return !done
            }
            if now {
                try? write("  strategy: warm-affinity\n  warm-affinity:\n    load-threshold: 0.9\n")
                broker.child.signal(SIGHUP)
            }
        }
        await controller.close()
        #expect(result.answers.count == 3_000)
        #expect(result.duplicates == 0)
        #expect(result.answers.values.allSatisfy { $0.first?.kind == .success })
        try await broker.waitForStatus("/status names the new strategy") { $0.strategy == "warm-affinity" }

        // An invalid file is refused; the running strategy stays.
        try write("  strategy: no-such-strategy\n")
        broker.child.signal(SIGHUP)
        // The refusal is reported in the log (the operator's only channel for it).
        #expect(broker.child.errors.wait(for: "configuration reload refused", timeout: .seconds(10)) != nil)
        #expect(broker.child.errors.current.contains("no-such-strategy"))
        #expect(try await broker.status().strategy == "warm-affinity")

        let counters = try broker.stop()
        #expect(counters["strategy_swaps"] == 1)
        #expect(counters["answered_success"] == 3_000)
        #expect(broker.child.output.current.contains("summary strategy=warm-affinity "))
    }
}
