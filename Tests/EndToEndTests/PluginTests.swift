import Foundation
import SluiceClient
import SluiceProtocol
import SluiceBroker
import SluicePluginAPI
import SluiceTestKit
import Testing

extension BrokerEndToEndTests {
    @Test("An external strategy plugin (first-fit, a shared library) is loaded into a running broker and decides placement")
    func firstFitPlugin() async throws {
        let plugin = Products.path("libSluiceFirstFitPlugin.so")
        let broker = try BrokerProcess(["--plugin", plugin, "--strategy", "first-fit", "--log-level", "info"])
        // Register "first" before "second", so it holds position 0.
        let first = try startInvoker(broker, id: "first", slots: 4, duration: "400ms")
        defer { first.signal(SIGKILL) }
        #expect(broker.child.errors.wait(for: "invoker=first", timeout: .seconds(10)) != nil)
        let second = try startInvoker(broker, id: "second", slots: 4, duration: "400ms")
        defer { second.signal(SIGKILL) }
        #expect(broker.child.errors.wait(for: "invoker=second", timeout: .seconds(10)) != nil)

        let controller = try ControllerClient(id: "packer", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        // Six at once: first-fit packs four onto "first" (its slots) and the rest onto "second";
        // least-loaded would have split them three and three.
        let result = await drive(controller, prefix: "pack", count: 6, window: 6, timeout: .seconds(30))
        controller.close()
        let byInvoker = Dictionary(grouping: result.answers.values.compactMap(\.first), by: \.header.invokerID).mapValues(\.count)
        #expect(result.answers.values.allSatisfy { $0.first?.kind == .success })
        #expect(byInvoker == ["first": 4, "second": 2], "placement by the plugin: \(byInvoker)")
        let counters = try broker.stop()
        #expect(broker.child.output.current.contains("summary strategy=first-fit "))
        #expect(counters["strategy_contract_broken"] == 0)
    }

    @Test("A plugin that cannot be used stops start-up with a clear error", arguments: [
        ("/nonexistent/libnothing.so", "cannot open shared object file"),
        ("libzmq", "does not export sluice_strategy_plugin_v1"),
        ("libSluiceBadVersionPlugin.so", "built for plugin API version 999; this broker speaks version 1"),
    ])
    func unusablePlugin(path: String, message: String) throws {
        let resolved: String
        switch path {
        case "libzmq":
            resolved = ["/usr/lib/x86_64-linux-gnu/libzmq.so.5", "/usr/lib/aarch64-linux-gnu/libzmq.so.5", "/usr/lib/libzmq.so.5"]
                .first { FileManager.default.fileExists(atPath: $0) } ?? "/usr/lib/x86_64-linux-gnu/libzmq.so.5"
        case let name where !name.hasPrefix("/"):
            resolved = Products.path(name)
        default:
            resolved = path
        }
        let broker = try ChildProcess(Products.path("sluice"), ["broker", "--plugin", resolved])
        let status = try #require(broker.waitForExit(timeout: .seconds(20)))
        #expect(status == 64)
        #expect(broker.errors.wait(for: message, timeout: .seconds(5)) != nil, "stderr: \(broker.errors.current)")
        #expect(broker.errors.current.contains("cannot load strategy plugin"))
    }
}

extension BrokerEndToEndTests {
    @Test("The example plugin passes the strategy conformance suite through the C entry point")
    func examplePluginConformance() throws {
        let factory = try StrategyPlugins.load(Products.path("libSluiceFirstFitPlugin.so"))
        #expect(factory.name == "first-fit")
        StrategyConformance.check(factory)
        StrategyConformance.check(factory, parameters: ["max-load": "0.5"])
        #expect(throws: ParameterError.self) { try factory.make(StrategyParameters(strategy: "first-fit", values: ["max-load": "7"])) }
    }
}
