import Foundation
import SluiceClient
import SluiceProtocol
import Testing

extension BrokerEndToEndTests {
    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Activations the example invokers ran, from their `--progress-every 1` lines.
    static func executions(_ invokers: [ChildProcess]) -> Int {
        invokers.map { invoker in
            invoker.output.current.split(separator: "\n").filter { $0.contains(": ran ") }.count
        }.reduce(0, +)
    }

    @Test("Disk overflow survives SIGKILL: every waiting activation runs exactly once after the restart and is answered to its controller")
    func overflowSurvivesBrokerCrash() async throws {
        let store = try Self.temporaryDirectory("overflow")
        defer { try? FileManager.default.removeItem(at: store) }
        let arguments = ["--overflow-store", "disk", "--overflow-path", store.path, "--heartbeat-interval", "200ms"]
        // No invoker yet: everything the controller sends must wait, on disk.
        let first = try BrokerProcess(arguments)
        let controller = try ControllerClient(id: "survivor", endpoint: first.controllerEndpoint, answerTimeout: .seconds(60))
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        let count = 50
        async let load = drive(controller, prefix: "crash", count: count, window: count, timeout: .seconds(90))

        try await first.waitForStatus(timeout: .seconds(20), "all \(count) activations wait in the first broker") {
            $0.gauges.waiting == count && $0.overflow?.records == count
        }
        first.child.signal(SIGKILL)
        #expect(first.child.waitForExit(timeout: .seconds(10)) != nil)

        let second = try BrokerProcess(arguments, controllerEndpoint: first.controllerEndpoint, invokerEndpoint: first.invokerEndpoint)
        try await second.waitForStatus(timeout: .seconds(10), "the restarted broker recovers the overflow") {
            $0.counters["overflow_recovered"] == count && $0.gauges.waiting == count
        }
        let invokers = try (0..<2).map { n in
            try ChildProcess(Products.path("sluice-example-invoker"), [
                "--endpoint", second.invokerEndpoint, "--id", "after-crash\(n)", "--slots", "4", "--duration", "1ms-5ms",
                "--progress-every", "1",
            ])
        }
        defer { invokers.forEach { $0.signal(SIGKILL) } }

        let result = await load
        await controller.close()
        #expect(result.answers.count == count, "every activation is answered")
        #expect(result.duplicates == 0)
        #expect(result.answers.values.allSatisfy { $0.first?.kind == .success }, "kinds: \(Set(result.answers.values.compactMap { $0.first?.kind }))")
        #expect(result.wrongResults.isEmpty, "payloads survived the crash byte for byte")
        let counters = try second.stop()
        #expect(counters["overflow_recovered"] == count)
        #expect(counters["dispatched"]! - counters["dispatch_retries"]! == count, "each recovered activation dispatched once")
        #expect(Self.executions(invokers) == count, "none ran twice")
    }

    @Test("Persist only the excess: with room on the invokers the disk store writes nothing")
    func diskStoreWritesNothingWithoutOverflow() async throws {
        let store = try Self.temporaryDirectory("no-overflow")
        defer { try? FileManager.default.removeItem(at: store) }
        let broker = try BrokerProcess(["--overflow-store", "disk", "--overflow-path", store.path])
        let invokers = try (0..<2).map { try startInvoker(broker, id: "roomy\($0)", slots: 64, duration: "0ms-1ms") }
        defer { invokers.forEach { $0.signal(SIGKILL) } }
        // Work sent before the invokers register would wait, and so be written: wait for both.
        try await broker.waitForInvokers(["roomy0", "roomy1"])
        let controller = try ControllerClient(id: "light", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        // A window far below the 128 free slots: nothing ever waits.
        let result = await drive(controller, prefix: "light", count: 500, window: 8, timeout: .seconds(60))
        await controller.close()
        #expect(result.answers.count == 500)
        let counters = try broker.stop()
        #expect(counters["answered_success"] == 500)
        // The lock file (its holder's pid) is the only file, and it holds no activation.
        let files = try FileManager.default.contentsOfDirectory(atPath: store.path).filter { $0 != "LOCK" }
        let bytes = try files.reduce(0) { total, name in
            total + ((try FileManager.default.attributesOfItem(atPath: store.appendingPathComponent(name).path)[.size] as? Int) ?? 0)
        }
        #expect(bytes == 0, "the store wrote \(bytes) bytes in \(files)")
    }
}

extension BrokerEndToEndTests {
    @Test("Issue 13 item 1: a second broker on the same overflow directory refuses to start, naming the directory and the first broker's pid")
    func secondBrokerOnOneDirectoryRefuses() async throws {
        let store = try Self.temporaryDirectory("shared-overflow")
        defer { try? FileManager.default.removeItem(at: store) }
        let arguments = ["--overflow-store", "disk", "--overflow-path", store.path]
        let first = try BrokerProcess(arguments)
        let second = try ChildProcess(Products.path("sluice"), [
            "broker", "--controller-endpoint", "tcp://127.0.0.1:*", "--invoker-endpoint", "tcp://127.0.0.1:*",
            "--monitor-endpoint", "127.0.0.1:0",
        ] + arguments)
        let status = try #require(second.waitForExit(timeout: .seconds(30)))
        #expect(status != 0)
        let pid = first.child.process.processIdentifier
        #expect(second.errors.wait(for: "is in use by another broker (pid \(pid)", timeout: .seconds(5)) != nil,
                "stderr: \(second.errors.current)")
        #expect(second.errors.current.contains(store.path))
        #expect(first.isRunning, "the first broker is not disturbed")
        _ = try first.stop()
        // Once the first has gone, the directory can be used again.
        let third = try BrokerProcess(arguments)
        _ = try third.stop()
    }
}
