import Foundation
import Testing

extension BrokerEndToEndTests {
    @Test("Wrong configuration values are refused at start-up with a message naming the option", arguments: [
        (["--liveness", "0"], "'liveness'"),
        (["--strategy", "fastest"], "unknown strategy 'fastest'"),
        (["--heartbeat-interval", "soon"], "--heartbeat-interval"),
        (["--controller-endpoint", "localhost:1"], "'controller-endpoint'"),
        (["--max-waiting-age", "0s"], "'max-waiting-age'"),
        (["--log-level", "loud"], "--log-level"),
        // Issue 13 item 8: this trapped (a duration past Int64 nanoseconds).
        (["--max-waiting-age", "9999999999h"], "--max-waiting-age"),
        (["--completion-timeout-slack", "99999999999999s"], "--completion-timeout-slack"),
    ])
    func badConfiguration(arguments: [String], named: String) throws {
        let broker = try ChildProcess(Products.path("sluice"), ["broker"] + arguments)
        let status = try #require(broker.waitForExit(timeout: .seconds(20)), "sluice broker \(arguments) did not exit")
        #expect(status == 64, "usage errors exit 64 (EX_USAGE)")
        #expect(broker.errors.wait(for: named, timeout: .seconds(5)) != nil, "stderr names \(named): \(broker.errors.current)")
        #expect(!broker.output.current.contains("listening"))
    }

    @Test("An endpoint already in use: exit 1 with a message naming the option and the endpoint")
    func endpointInUse() throws {
        let first = try BrokerProcess()
        let second = try ChildProcess(Products.path("sluice"), [
            "broker", "--controller-endpoint", first.controllerEndpoint, "--invoker-endpoint", "tcp://127.0.0.1:*",
        ])
        let status = try #require(second.waitForExit(timeout: .seconds(20)))
        #expect(status == 1)
        #expect(second.errors.wait(for: "cannot listen on controller-endpoint \(first.controllerEndpoint)", timeout: .seconds(5)) != nil,
                "stderr: \(second.errors.current)")
        _ = try first.stop()
    }
}

extension BrokerEndToEndTests {
    @Test("The example configuration is valid with every built-in strategy selected",
          arguments: ["least-loaded", "round-robin", "random", "power-of-two", "direct", "openwhisk-sharding", "consistent-hash", "warm-affinity"])
    func exampleConfiguration(strategy: String) throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/config/sluice.yaml").path
        let check = try ChildProcess(Products.path("sluice"), ["broker", "--check-config", file, "--strategy", strategy])
        let status = try #require(check.waitForExit(timeout: .seconds(20)))
        #expect(status == 0, "stderr: \(check.errors.current)")
        #expect(check.output.wait(for: "routing.strategy \(strategy)", timeout: .seconds(5)) != nil, "stdout: \(check.output.current)")
    }

    @Test("A typo in the configuration file stops start-up naming the key and the valid ones")
    func configurationTypo() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-typo-\(UUID().uuidString).yaml")
        try "routing:\n  strategy: power-of-two\n  power-of-two:\n    choises: 3\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let broker = try ChildProcess(Products.path("sluice"), ["broker", "--config", file.path])
        let status = try #require(broker.waitForExit(timeout: .seconds(20)))
        #expect(status == 64)
        #expect(broker.errors.wait(for: "unknown configuration key 'routing.power-of-two.choises'; known: choices, seed", timeout: .seconds(5)) != nil,
                "stderr: \(broker.errors.current)")
    }
}
