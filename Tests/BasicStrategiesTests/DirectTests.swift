import SluicePluginAPI
import SluiceStrategyDirect
import SluiceTestKit
import Testing

// Not run through StrategyConformance: that suite expects `.wait` when nothing fits, while
// `direct` answers every request without a target `.reject` (the broker core places targeted
// requests itself before asking a strategy). Its behaviour is checked here instead.

private let mixed = ClusterView([
    StrategyConformance.snapshot(0),
    StrategyConformance.snapshot(1, slots: 2, inFlight: 2),
    StrategyConformance.snapshot(2, health: .unhealthy),
    StrategyConformance.snapshot(3, slots: 0, memory: 0, draining: true),
    StrategyConformance.snapshot(4, memory: 128),
    StrategyConformance.snapshot(5, inFlight: 3),
])

@Test func directRejectsRequestsWithoutATarget() {
    var strategy = DirectStrategy()
    for view in [mixed, ClusterView([]), ClusterView((0..<4).map { StrategyConformance.snapshot($0) })] {
        let decision = strategy.place(plainRequest(), in: view)
        guard case .reject(let reason) = decision else {
            Issue.record("expected .reject, got \(decision)")
            continue
        }
        #expect(reason.contains("target"))
    }
}

@Test func directPlacesOnAnEligibleTarget() {
    var strategy = DirectStrategy()
    #expect(strategy.place(plainRequest(target: "invoker0"), in: mixed) == .place(invokerID: "invoker0"))
    #expect(strategy.place(plainRequest(target: "invoker5"), in: mixed) == .place(invokerID: "invoker5"))
}

@Test func directWaitsForARegisteredTargetThatCannotTakeWorkNow() {
    var strategy = DirectStrategy()
    // Full, unhealthy, draining, too little free memory.
    for target in ["invoker1", "invoker2", "invoker3", "invoker4"] {
        #expect(strategy.place(plainRequest(target: target), in: mixed) == .wait, "\(target)")
    }
}

@Test func directRejectsAnUnknownTargetNamingIt() {
    var strategy = DirectStrategy()
    let decision = strategy.place(plainRequest(target: "invoker9"), in: mixed)
    guard case .reject(let reason) = decision else {
        Issue.record("expected .reject, got \(decision)")
        return
    }
    #expect(reason.contains("invoker9"))
}

@Test func directPlacesOnlyWhereEligible() {
    var strategy = DirectStrategy()
    for position in mixed.invokers.indices {
        let request = plainRequest(target: "invoker\(position)")
        let decision = strategy.place(request, in: mixed)
        #expect((decision == .place(invokerID: "invoker\(position)")) == mixed.isEligible(position, for: request))
    }
}

@Test func directRejectsParameters() {
    let error = #expect(throws: ParameterError.self) {
        try DirectStrategy.factory.make(StrategyParameters(strategy: DirectStrategy.name, values: ["target": "invoker0"]))
    }
    #expect(error?.key == "routing.direct.target")
}
