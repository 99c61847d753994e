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
        (["--monitor-endpoint", "nowhere"], "'monitor.endpoint'"),
        (["--monitor-endpoint", "127.0.0.1:70000"], "'monitor.endpoint'"),
        (["--log-format", "xml"], "--log-format"),
        // Issue 18: a trace is never overwritten (this source file exists).
        (["--record-trace", #filePath], "'trace.path'"),
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
            "--monitor-endpoint", "127.0.0.1:0",
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

extension BrokerEndToEndTests {
    /// `sluice broker --check-config FILE` with `environment`: exit status and stderr/stdout.
    func checkConfig(_ yaml: String, environment: [String: String]) throws -> (status: Int32, errors: String, output: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-env-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("sluice.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try ChildProcess(Products.path("sluice"), ["broker", "--check-config", file], environment: environment)
        let status = try #require(check.waitForExit(timeout: .seconds(20)))
        return (status, check.errors.waitForEnd(timeout: .seconds(5)), check.output.waitForEnd(timeout: .seconds(5)))
    }

    @Test("Issue 13 item 12: SLUICE_* reaches every key, and a value that cannot be applied is refused naming the key",
          arguments: [
              // The case: silently ignored before, so CURVE stayed off.
              ("routing:\n  strategy: round-robin\n", ["SLUICE_SECURITY_CURVE": "true"], "security.key-file"),
              ("routing:\n  strategy: round-robin\n", ["SLUICE_SECURITY_CURVE": "maybe"], "security.curve"),
              ("broker:\n  liveness: [1, 2]\n", [:], "broker.liveness"),
              ("namespaces:\n  limits: {guest: 5}\n", ["SLUICE_NAMESPACES_LIMITS_GUEST": "x"], "namespaces.limits.guest"),
              ("monitor:\n  endpoint: 127.0.0.1:5680\n", ["SLUICE_MONITOR_ENDPOINT": "nowhere"], "monitor.endpoint"),
              ("routing:\n  strategy: round-robin\n", ["SLUICE_MONITOR_STALL_AFTER": "0s"], "monitor.stall-after"),
          ] as [(String, [String: String], String)])
    func environmentReachesEveryKey(yaml: String, environment: [String: String], named: String) throws {
        let result = try checkConfig(yaml, environment: environment)
        #expect(result.status == 64, "stdout: \(result.output) stderr: \(result.errors)")
        #expect(result.errors.contains(named), "stderr names \(named): \(result.errors)")
    }

    @Test("Issue 13 item 12: plugins and the strategy can come from the environment alone")
    func pluginsFromTheEnvironment() throws {
        let result = try checkConfig("broker:\n  liveness: 3\n", environment: [
            "SLUICE_ROUTING_PLUGINS": Products.path("libSluiceFirstFitPlugin.so"), "SLUICE_ROUTING_STRATEGY": "first-fit",
        ])
        #expect(result.status == 0, "stderr: \(result.errors)")
        #expect(result.output.contains("routing.strategy first-fit"), "stdout: \(result.output)")
    }

    @Test("The monitoring endpoint comes from the file, the environment or the flag, and can be turned off")
    func monitorEndpointSources() throws {
        #expect(try checkConfig("monitor:\n  endpoint: 127.0.0.1:6001\n", environment: [:]).output.contains("monitor http://127.0.0.1:6001"))
        #expect(try checkConfig("monitor:\n  endpoint: 127.0.0.1:6001\n", environment: ["SLUICE_MONITOR_ENDPOINT": "off"]).output.contains("monitor off"))
        #expect(try checkConfig("broker:\n  liveness: 3\n", environment: [:]).output.contains("monitor http://127.0.0.1:5680"), "the default")
    }
}
