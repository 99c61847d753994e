import SluicePluginAPI
@testable import SluiceSimulator
import SluiceStrategies
import Testing

/// `sluice simulate --brokers N` (issue 15: measure what partitioning costs before building it).
@Suite("Several brokers in the simulator")
struct ClusterSimulationTests {
    func run(brokers: Int, choice: BrokerChoice, strategy: String = "warm-affinity") throws -> SimulationResult {
        var scenarios = Scenarios(seed: 3, scale: 0.34)
        scenarios.hermodLoads = [0.6]
        let point = scenarios.points(.hermod)[0]
        var settings = point.settings
        settings.brokers = brokers
        settings.brokerChoice = choice
        let strategies = try (0..<brokers).map { _ in try BuiltInStrategies.registry.make(strategy, parameters: [:]) }
        return Simulator.run(point.workload, settings: settings, strategies: strategies, duration: point.duration)
    }

    @Test("Every activation is answered exactly once, by the broker it was sent to, with any number of brokers")
    func exactlyOnceAcrossBrokers() throws {
        for brokers in [1, 2, 3] {
            for choice in BrokerChoice.allCases {
                let result = try run(brokers: brokers, choice: choice)
                #expect(result.succeeded == result.activations, "\(brokers) brokers, \(choice): \(result.succeeded) of \(result.activations)")
            }
        }
    }

    @Test("One broker is the single-broker simulation, whatever the choice policy")
    func oneBrokerIsUnchanged() throws {
        let single = try run(brokers: 1, choice: .actionAffinity)
        let other = try run(brokers: 1, choice: .powerOfTwo)
        #expect(single.coldStarts == other.coldStarts)
        #expect(single.slowdownP99 == other.slowdownP99)
    }

    @Test("Random broker choice spreads each action's warm containers over every share; action affinity keeps them home")
    func affinityKeepsContainersWarm() throws {
        let spread = try run(brokers: 4, choice: .powerOfTwo)
        let affine = try run(brokers: 4, choice: .actionAffinity)
        #expect(affine.coldStartRate < spread.coldStartRate / 2, "cold starts: affinity \(affine.coldStartRate), power of two \(spread.coldStartRate)")
    }
}
