import SluicePluginAPI
import SluiceStrategyRoundRobin
import SluiceTestKit
import Testing

@Test func roundRobinVisitsEligibleInvokersInTurn() {
    var strategy = RoundRobinStrategy()
    let view = ClusterView((0..<4).map { StrategyConformance.snapshot($0) })
    let chosen = placements(&strategy, in: view, decisions: 9)
    #expect(chosen == ["invoker0", "invoker1", "invoker2", "invoker3", "invoker0", "invoker1", "invoker2", "invoker3", "invoker0"])
}

@Test func roundRobinSkipsIneligibleInvokers() {
    var strategy = RoundRobinStrategy()
    // invoker1 is unhealthy, invoker3 full, invoker4 draining: only 0, 2 and 5 take work.
    let view = ClusterView([
        StrategyConformance.snapshot(0),
        StrategyConformance.snapshot(1, health: .unhealthy),
        StrategyConformance.snapshot(2),
        StrategyConformance.snapshot(3, slots: 2, inFlight: 2),
        StrategyConformance.snapshot(4, slots: 0, memory: 0, draining: true),
        StrategyConformance.snapshot(5),
    ])
    let chosen = placements(&strategy, in: view, decisions: 7)
    #expect(chosen == ["invoker0", "invoker2", "invoker5", "invoker0", "invoker2", "invoker5", "invoker0"])
}

@Test func roundRobinContinuesAfterItsLastChoiceWhenTheViewChanges() {
    var strategy = RoundRobinStrategy()
    let idle = (0..<4).map { StrategyConformance.snapshot($0) }
    #expect(placements(&strategy, in: ClusterView(idle), decisions: 2) == ["invoker0", "invoker1"])
    // invoker2 fills up: the turn passes to invoker3, then wraps to invoker0.
    var changed = idle
    changed[2] = StrategyConformance.snapshot(2, slots: 4, inFlight: 4)
    #expect(placements(&strategy, in: ClusterView(changed), decisions: 2) == ["invoker3", "invoker0"])
    // Nothing has room: wait.
    let full = (0..<4).map { StrategyConformance.snapshot($0, slots: 1, inFlight: 1) }
    #expect(strategy.place(plainRequest(), in: ClusterView(full)) == .wait)
}

@Test func roundRobinRejectsParameters() {
    let error = #expect(throws: ParameterError.self) {
        try RoundRobinStrategy.factory.make(StrategyParameters(strategy: RoundRobinStrategy.name, values: ["seed": "1"]))
    }
    #expect(error?.key == "routing.round-robin.seed")
}
