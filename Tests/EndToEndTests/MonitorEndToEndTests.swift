import Foundation
import SluiceClient
import SluiceMonitor
import SluiceProtocol
import SluiceTestKit
import Testing

/// The monitoring endpoint of a real `sluice broker` process, read over real HTTP (issue 14).
extension BrokerEndToEndTests {
    /// `/metrics` as `series -> value`.
    func metrics(_ broker: BrokerProcess) async throws -> [String: Double] {
        let response = try await MonitorClient.get(broker.monitorEndpoint, path: "/metrics")
        #expect(response.status == 200)
        var values: [String: Double] = [:]
        for line in response.text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }

    @Test("Metrics move as activations flow; /status lists the invokers connected and who runs what")
    func monitoringWhileWorkFlows() async throws {
        let broker = try BrokerProcess()
        let invokers = try (0..<2).map { try startInvoker(broker, id: "watched\($0)", slots: 4, duration: "1ms-3ms") }
        defer { invokers.forEach { $0.signal(SIGKILL) } }
        let registered = try await broker.waitForStatus("both invokers registered") { $0.invokers.count == 2 }
        #expect(registered.invokers.map(\.id) == ["watched0", "watched1"])
        #expect(registered.invokers.allSatisfy { $0.state == "healthy" && $0.slots == 4 && $0.slotsUsed == 0 })
        #expect(registered.gauges.slots == 8)
        #expect(registered.state == "running")
        let before = try await metrics(broker)
        #expect(before["sluice_activations_received_total"] == 0)
        #expect(before["sluice_invoker_slots_advertised{invoker=\"watched0\"}"] == 4)

        let controller = try ControllerClient(id: "watcher", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        let result = await drive(controller, prefix: "seen", count: 500, window: 16, timeout: .seconds(60))
        #expect(result.answers.count == 500)

        // The endpoint refreshes 4 times a second: read until it has caught up.
        let after = try await broker.waitForStatus("500 answers counted") { $0.counters["answered_success"] == 500 }
        #expect(after.counters["activations_received"] == 500)
        #expect(after.controllers.map(\.id) == ["watcher"])
        #expect(after.controllers.first?.connected == true)
        let values = try await metrics(broker)
        #expect(values["sluice_activations_received_total"] == 500)
        #expect(values["sluice_answers_total{kind=\"success\"}"] == 500)
        #expect(values["sluice_activation_answer_seconds_count"] == 500, "every answer timed")
        #expect(values["sluice_activation_run_seconds_count"] == 500)
        #expect((values["sluice_loop_turn_seconds_count"] ?? 0) > 0)
        #expect(values["sluice_controllers_connected"] == 1)
        await controller.close()
        _ = try broker.stop()
    }

    @Test("/readyz turns 503 as soon as shutdown begins, while /healthz stays 200 and in-flight work finishes")
    func readinessDuringShutdown() async throws {
        let broker = try BrokerProcess(["--shutdown-grace", "20s"])
        let invoker = try startInvoker(broker, id: "slow", slots: 1, duration: "3s")
        defer { invoker.signal(SIGKILL) }
        try await broker.waitForInvokers(["slow"])
        #expect(try await MonitorClient.get(broker.monitorEndpoint, path: "/readyz").status == 200)

        let controller = try ControllerClient(id: "patient", endpoint: broker.controllerEndpoint, answerTimeout: .seconds(30))
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        async let answer = controller.invoke(RoutingHeader(activationID: "long", namespace: "guest", action: "guest/slow"), payload: [1])
        try await broker.waitForStatus("the activation runs") { $0.gauges.inFlight == 1 }

        broker.child.signal(SIGTERM)
        try await waitUntil("/readyz says not ready once draining", timeout: .seconds(10), every: .milliseconds(20)) {
            try await MonitorClient.get(broker.monitorEndpoint, path: "/readyz").status == 503
        }
        let status = try await broker.status()
        #expect(status.state == "draining")
        #expect(status.gauges.inFlight == 1, "the activation is still running")
        #expect(try await MonitorClient.get(broker.monitorEndpoint, path: "/healthz").status == 200, "draining is alive")
        let got = await answer
        #expect(got.kind == .success, "in-flight work finished during the grace: \(got)")
        #expect(broker.child.waitForExit(timeout: .seconds(30)) == 0)
        await controller.close()
    }

    @Test("sluice status against a live broker prints its invokers; an unreachable endpoint exits 1 naming it; --log-format json writes one JSON object per log line")
    func statusCommandAndJSONLogs() async throws {
        let broker = try BrokerProcess(["--log-format", "json", "--log-level", "info"])
        defer { _ = try? broker.stop() }
        let invoker = try startInvoker(broker, id: "inv-status", slots: 2, duration: "1ms")
        defer { invoker.signal(SIGKILL) }
        try await broker.waitForInvokers(["inv-status"])

        let status = try ChildProcess(Products.path("sluice"), ["status", "--endpoint", broker.monitorEndpoint])
        #expect(await status.exit(timeout: .seconds(30)) == 0, "stderr: \(status.errors.current)")
        let text = status.output.waitForEnd(timeout: .seconds(5))
        #expect(text.contains("running"), "\(text)")
        #expect(text.contains("INVOKER") && text.contains("inv-status"), "\(text)")

        let unreachable = try ChildProcess(Products.path("sluice"), ["status", "--endpoint", "127.0.0.1:1"])
        #expect(await unreachable.exit(timeout: .seconds(30)) == 1)
        #expect(unreachable.errors.waitForEnd(timeout: .seconds(5)).contains("127.0.0.1:1"))

        // The registration is logged as JSON: every line of standard error is one object.
        #expect(broker.child.errors.wait(for: "invoker registered", timeout: .seconds(10)) != nil, "\(broker.child.errors.current)")
        let lines = broker.child.errors.current.split(separator: "\n")
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["message"] is String && object?["timestamp"] is String, "not a JSON log line: \(line)")
        }
        let registered = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["message"] as? String == "invoker registered" }
        #expect(registered?["invoker"] as? String == "inv-status", "metadata as fields: \(String(describing: registered))")
    }

    @Test("sluice broker --help teaches CURVE and id binding (it once said SLU/1 has no authentication)")
    func brokerHelpNamesSecurity() async throws {
        let help = try ChildProcess(Products.path("sluice"), ["broker", "--help"])
        #expect(await help.exit(timeout: .seconds(30)) == 0)
        let text = help.output.waitForEnd(timeout: .seconds(5))
        #expect(text.contains("CURVE"), "\(text)")
        #expect(!text.lowercased().contains("no authentication"), "\(text)")
    }

    @Test("A monitoring port in use: the broker exits 1 naming --monitor-endpoint and the address")
    func monitorPortInUse() throws {
        let first = try BrokerProcess()
        let second = try ChildProcess(Products.path("sluice"), [
            "broker", "--controller-endpoint", "tcp://127.0.0.1:*", "--invoker-endpoint", "tcp://127.0.0.1:*",
            "--monitor-endpoint", first.monitorEndpoint,
        ])
        let status = try #require(second.waitForExit(timeout: .seconds(20)))
        #expect(status == 1)
        #expect(second.errors.wait(for: "cannot serve monitoring on monitor-endpoint \(first.monitorEndpoint)", timeout: .seconds(5)) != nil,
                "stderr: \(second.errors.current)")
        #expect(!second.output.current.contains("listening"))
        _ = try first.stop()
    }
}

extension BrokerEndToEndTests {
    @Test("sluice demo: activations flow, the strategy swaps, a killed invoker's work is answered invokerLost, everything stops")
    func demo() throws {
        let demo = try ChildProcess(Products.path("sluice"), [
            "demo", "--duration", "8s", "--swap-after", "1s", "--kill-after", "2s", "--restart-after", "3s", "--plain",
        ])
        let status = try #require(demo.waitForExit(timeout: .seconds(60)))
        #expect(status == 0, "stderr: \(demo.errors.current)")
        let output = demo.output.current
        let summary = try #require(output.split(separator: "\n").last { $0.hasPrefix("summary ") }, "output: \(output.suffix(2000))")
        var counters: [String: Int] = [:]
        for part in summary.split(separator: " ") {
            let pair = part.split(separator: "=")
            if pair.count == 2, let value = Int(pair[1]) { counters[String(pair[0])] = value }
        }
        #expect(counters["strategy_swaps"] == 1)
        #expect(counters["invokers_lost"] == 1)
        #expect((counters["answered_success"] ?? 0) > 100)
        #expect(counters["answered"] == counters["activations_received"], "every activation answered")
        #expect(output.contains("INVOKER"), "the live view was shown")
        #expect(output.contains("invoker-new"), "the new invoker shows in the live view")
    }
}
