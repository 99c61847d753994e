import SluicePluginAPI
import SluiceStrategyPowerOfTwo
import SluiceTestKit
import Testing

/// invoker0 most loaded (3 of 4), invoker1 less (1 of 4), invoker2 idle.
private let threeLoads = ClusterView([
    StrategyConformance.snapshot(0, inFlight: 3),
    StrategyConformance.snapshot(1, inFlight: 1),
    StrategyConformance.snapshot(2, inFlight: 0),
])

@Test func powerOfTwoNeverPicksTheMostLoaded() {
    // The two samples are distinct, so the most loaded is always compared with a less
    // loaded one and loses. The idle one wins whenever sampled (2 of the 3 pairs).
    var strategy = PowerOfTwoStrategy(choices: 2, seed: 11)
    let counts = tally(placements(&strategy, in: threeLoads, decisions: 10_000))
    #expect(counts["invoker0"] == nil)
    #expect((6_367...6_967).contains(counts["invoker2", default: 0]), "idle invoker chosen \(counts["invoker2", default: 0]) times")
    #expect((3_033...3_633).contains(counts["invoker1", default: 0]), "less loaded invoker chosen \(counts["invoker1", default: 0]) times")
}

@Test func powerOfTwoNeverPicksTheMostLoadedAmongManyPositions() {
    // Many ineligible positions, so rejection sampling often finds fewer than two and the
    // sample is completed from the eligible list: still distinct.
    var invokers = (0..<40).map { StrategyConformance.snapshot($0, health: .unhealthy) }
    invokers[5] = StrategyConformance.snapshot(5, inFlight: 3)
    invokers[22] = StrategyConformance.snapshot(22, inFlight: 1)
    invokers[31] = StrategyConformance.snapshot(31, inFlight: 2)
    var strategy = PowerOfTwoStrategy(choices: 2, seed: 4)
    let counts = tally(placements(&strategy, in: ClusterView(invokers), decisions: 3_000))
    #expect(counts["invoker5"] == nil)
    #expect(counts["none"] == nil)
    #expect(counts["invoker22", default: 0] > counts["invoker31", default: 0])
}

@Test func powerOfTwoWithOneChoiceIsUniformRandom() {
    // One sample: load plays no part, each of 4 eligible invokers gets a quarter.
    var strategy = PowerOfTwoStrategy(choices: 1, seed: 2)
    let view = ClusterView((0..<4).map { StrategyConformance.snapshot($0, inFlight: $0) })
    let counts = tally(placements(&strategy, in: view, decisions: 10_000))
    for position in 0..<4 {
        let count = counts["invoker\(position)", default: 0]
        #expect((2_200...2_800).contains(count), "invoker\(position) chosen \(count) times of 10,000")
    }
}

@Test func powerOfTwoWithEnoughChoicesIsLeastLoaded() {
    var strategy = PowerOfTwoStrategy(choices: 16, seed: 9)
    #expect(placements(&strategy, in: threeLoads, decisions: 100).allSatisfy { $0 == "invoker2" })
    // Only one eligible invoker: it is chosen whatever the choices.
    var two = PowerOfTwoStrategy()
    let one = ClusterView([
        StrategyConformance.snapshot(0, health: .unhealthy),
        StrategyConformance.snapshot(1, inFlight: 3),
        StrategyConformance.snapshot(2, draining: true),
    ])
    #expect(placements(&two, in: one, decisions: 50).allSatisfy { $0 == "invoker1" })
}

@Test func powerOfTwoIsReproducibleForASeed() {
    let view = ClusterView((0..<12).map { StrategyConformance.snapshot($0, slots: 8, inFlight: $0 % 5) })
    var first = PowerOfTwoStrategy(choices: 2, seed: 21)
    var second = PowerOfTwoStrategy(choices: 2, seed: 21)
    var other = PowerOfTwoStrategy(choices: 2, seed: 22)
    let a = placements(&first, in: view, decisions: 200)
    #expect(a == placements(&second, in: view, decisions: 200))
    #expect(a != placements(&other, in: view, decisions: 200))
}

@Test func powerOfTwoParameterErrors() {
    func error(_ values: [String: String]) -> ParameterError? {
        #expect(throws: ParameterError.self, "\(values)") {
            try PowerOfTwoStrategy.factory.make(StrategyParameters(strategy: PowerOfTwoStrategy.name, values: values))
        }
    }
    #expect(error(["choices": "zero"])?.key == "routing.power-of-two.choices")
    #expect(error(["choices": "99"])?.key == "routing.power-of-two.choices")
    #expect(error(["choices": "0"])?.key == "routing.power-of-two.choices")
    #expect(error(["seed": "x"])?.key == "routing.power-of-two.seed")
    let unknown = error(["choises": "2"])
    #expect(unknown?.key == "routing.power-of-two.choises")
    #expect(unknown?.description.contains("choises") == true)
    #expect(unknown?.problem.contains("unknown") == true)
}

@Test func powerOfTwoAcceptsItsParameters() throws {
    var strategy = try PowerOfTwoStrategy.factory.make(
        StrategyParameters(strategy: PowerOfTwoStrategy.name, values: ["choices": "16", "seed": "3"]))
    #expect(placedID(strategy.place(plainRequest(), in: threeLoads)) == "invoker2")
}
