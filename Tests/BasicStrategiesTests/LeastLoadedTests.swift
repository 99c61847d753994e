import SluicePluginAPI
import SluiceStrategyLeastLoaded
import SluiceTestKit
import Testing

@Test func leastLoadedPicksTheLowestLoad() {
    var strategy = LeastLoadedStrategy()
    // Loads: 2/4 = 0.5, 2/8 = 0.25, 1/2 = 0.5, and an unhealthy idle one that must be skipped.
    let view = ClusterView([
        StrategyConformance.snapshot(0, slots: 4, inFlight: 2),
        StrategyConformance.snapshot(1, slots: 8, inFlight: 2),
        StrategyConformance.snapshot(2, slots: 2, inFlight: 1),
        StrategyConformance.snapshot(3, slots: 4, inFlight: 0, health: .unhealthy),
    ])
    #expect(strategy.place(plainRequest(), in: view) == .place(invokerID: "invoker1"))
}

@Test func leastLoadedBreaksTiesTowardAWarmInvoker() {
    var strategy = LeastLoadedStrategy()
    // invoker1 and invoker2 tie at 1/4; invoker1 comes first and has more free memory, but
    // invoker2 is warm for the action.
    let view = ClusterView([
        StrategyConformance.snapshot(0, inFlight: 3, warm: ["guest/a"]),
        StrategyConformance.snapshot(1, inFlight: 1, memory: 4096, warm: ["guest/b"]),
        StrategyConformance.snapshot(2, inFlight: 1, warm: ["guest/a"]),
    ])
    #expect(strategy.place(plainRequest(action: "guest/a"), in: view) == .place(invokerID: "invoker2"))
    // For another action neither is warm: more free memory wins.
    #expect(strategy.place(plainRequest(action: "guest/c"), in: view) == .place(invokerID: "invoker1"))
}

@Test func leastLoadedRejectsParameters() {
    let error = #expect(throws: ParameterError.self) {
        try LeastLoadedStrategy.factory.make(StrategyParameters(strategy: LeastLoadedStrategy.name, values: ["choices": "2"]))
    }
    #expect(error?.key == "routing.least-loaded.choices")
}
