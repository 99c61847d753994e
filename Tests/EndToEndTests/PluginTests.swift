import Foundation
import Logging
import SluiceStrategies
import ZeroMQ
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
        let broker = try BrokerProcess(["--plugin", plugin, "--strategy", "first-fit"])
        // Register "first" before "second", so it holds position 0.
        let first = try startInvoker(broker, id: "first", slots: 4, duration: "400ms")
        defer { first.signal(SIGKILL) }
        try await broker.waitForInvokers(["first"])
        let second = try startInvoker(broker, id: "second", slots: 4, duration: "400ms")
        defer { second.signal(SIGKILL) }
        try await broker.waitForInvokers(["first", "second"])

        let controller = try ControllerClient(id: "packer", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        // Six at once: first-fit packs four onto "first" (its slots) and the rest onto "second";
        // least-loaded would have split them three and three.
        let result = await drive(controller, prefix: "pack", count: 6, window: 6, timeout: .seconds(30))
        await controller.close()
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

extension BrokerEndToEndTests {
    @Test("Issue 13 item 13: a C plugin is only ever called on the loop thread, also while strategies are swapped from another thread")
    func pluginCallsStayOnTheLoopThread() async throws {
        let path = Products.path("libSluiceThreadCheckPlugin.so")
        var registry = BuiltInStrategies.registry
        registry.register(try StrategyPlugins.load(path))
        // The library is loaded once per process: read its counters through the same handle.
        let handle = try #require(dlopen(path, RTLD_NOW | RTLD_NOLOAD))
        typealias Counter = @convention(c) () -> Int32
        let violations = unsafeBitCast(try #require(dlsym(handle, "sluice_thread_check_violations")), to: Counter.self)
        let creates = unsafeBitCast(try #require(dlsym(handle, "sluice_thread_check_creates")), to: Counter.self)

        var configuration = BrokerNodeConfiguration()
        configuration.controllerEndpoint = "tcp://127.0.0.1:*"
        configuration.invokerEndpoint = "tcp://127.0.0.1:*"
        configuration.statsInterval = .zero
        configuration.strategy = "thread-check"
        var logger = Logger(label: "test.plugin")
        logger.logLevel = .critical
        let broker = try Broker(configuration: configuration, strategies: registry, logger: logger)
        let endpoints = try await broker.start()
        let context = try ZMQContext()
        let controller = try RawPeer(context: context, endpoint: endpoints.controller, inbound: .brokerToController)
        let invoker = try RawPeer(context: context, endpoint: endpoints.invoker, inbound: .brokerToInvoker)
        try controller.send(.controllerHello(controllerID: "c1"))
        try invoker.send(.invokerHello(InvokerHello(invokerID: "i1", memoryMB: 4096, slots: 16)))
        #expect(await eventually { broker.status.invokers == 1 })
        // Placements make the loop call `place`, which names the loop thread for the fixture.
        for n in 0..<8 { try controller.send(.activate(RoutingHeader(activationID: "p\(n)", namespace: "guest", action: "guest/a")), opaque: [1]) }
        #expect(await eventually { broker.status.counters.dispatched == 8 })
        let before = creates()
        // Swaps requested from this (non-loop) thread while work keeps arriving.
        for round in 0..<5 {
            try controller.send(.activate(RoutingHeader(activationID: "s\(round)", namespace: "guest", action: "guest/a")), opaque: [1])
            try await broker.replaceStrategy("thread-check")
        }
        #expect(creates() - before == 5, "one instance per swap, made by the loop")
        #expect(violations() == 0, "calls off the loop thread or overlapping calls: before the fix each swap validated by creating an instance on the caller's thread")
        // A bad swap is refused with the reason, and the running strategy stays.
        await #expect(throws: ParameterError.self) { try await broker.replaceStrategy("no-such-strategy") }
        #expect(broker.status.strategy == "thread-check")
        broker.requestShutdown()
        await broker.waitUntilStopped()
        // After the loop has stopped, a swap fails at once instead of waiting forever.
        await #expect(throws: ParameterError.self) { try await broker.replaceStrategy("least-loaded") }
    }
}
