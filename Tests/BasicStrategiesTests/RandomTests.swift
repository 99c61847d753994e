import SluicePluginAPI
import SluiceStrategyRandom
import SluiceTestKit
import Testing

@Test func randomIsReproducibleForASeed() {
    // Some invokers are ineligible so both the sampling and the fallback route are used.
    let view = ClusterView((0..<10).map { StrategyConformance.snapshot($0, health: $0 % 3 == 0 ? .healthy : .unhealthy) })
    var first = RandomStrategy(seed: 7)
    var second = RandomStrategy(seed: 7)
    var other = RandomStrategy(seed: 8)
    let a = placements(&first, in: view, decisions: 200)
    let b = placements(&second, in: view, decisions: 200)
    let c = placements(&other, in: view, decisions: 200)
    #expect(a == b)
    #expect(a != c)
    #expect(!a.contains(nil))
}

@Test func randomFactorySeedMatchesTheInitialiser() throws {
    var made = try RandomStrategy.factory.make(StrategyParameters(strategy: RandomStrategy.name, values: ["seed": "99"]))
    var direct = RandomStrategy(seed: 99)
    let view = ClusterView((0..<5).map { StrategyConformance.snapshot($0) })
    let fromFactory = (0..<50).map { placedID(made.place(plainRequest("r\($0)"), in: view)) }
    #expect(fromFactory == placements(&direct, in: view, decisions: 50))
}

@Test func randomIsUniformOverIdleInvokers() {
    var strategy = RandomStrategy(seed: 1)
    let view = ClusterView((0..<4).map { StrategyConformance.snapshot($0) })
    let counts = tally(placements(&strategy, in: view, decisions: 10_000))
    #expect(counts.count == 4)
    for position in 0..<4 {
        let count = counts["invoker\(position)", default: 0]
        #expect((2_200...2_800).contains(count), "invoker\(position) chosen \(count) times of 10,000")
    }
}

@Test func randomIsUniformOverEligibleInvokersOnly() {
    // 4 eligible of 11 positions: 8 random tries all miss about 3% of the time ((7/11)^8), so the
    // fallback list is exercised too; the mixture must stay uniform.
    var strategy = RandomStrategy(seed: 3)
    let eligible: Set = [1, 4, 6, 9]
    let view = ClusterView((0..<11).map { StrategyConformance.snapshot($0, health: eligible.contains($0) ? .healthy : .unresponsive) })
    let counts = tally(placements(&strategy, in: view, decisions: 10_000))
    #expect(Set(counts.keys) == Set(eligible.map { "invoker\($0)" }))
    for position in eligible {
        let count = counts["invoker\(position)", default: 0]
        #expect((2_200...2_800).contains(count), "invoker\(position) chosen \(count) times of 10,000")
    }
}

@Test func randomFindsTheOnlyEligibleInvoker() {
    var strategy = RandomStrategy(seed: 5)
    let view = ClusterView((0..<50).map { StrategyConformance.snapshot($0, health: $0 == 37 ? .healthy : .unhealthy) })
    #expect(placements(&strategy, in: view, decisions: 100).allSatisfy { $0 == "invoker37" })
}

@Test func randomParameterErrors() {
    let negative = #expect(throws: ParameterError.self) {
        try RandomStrategy.factory.make(StrategyParameters(strategy: RandomStrategy.name, values: ["seed": "-1"]))
    }
    #expect(negative?.key == "routing.random.seed")
    let unknown = #expect(throws: ParameterError.self) {
        try RandomStrategy.factory.make(StrategyParameters(strategy: RandomStrategy.name, values: ["sede": "1"]))
    }
    #expect(unknown?.key == "routing.random.sede")
}
