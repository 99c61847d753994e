import SluicePluginAPI

/// The power of d choices: samples `choices` DISTINCT eligible invokers at random (seeded) and
/// places on the less loaded of them (`InvokerSnapshot.isLessLoaded`; on equal load the one
/// sampled first, which is random). With the default of two choices the most loaded of the
/// eligible invokers is never chosen while another one is eligible.
///
/// Sampling is by rejection: up to `4 * choices + 4` random positions, keeping each eligible
/// one not yet sampled. If that finds fewer than `choices` (few eligible invokers), it
/// completes the sample uniformly from the list of eligible positions, or takes them all if
/// there are no more than `choices`. Either way the sample is a uniformly random set of
/// distinct eligible invokers, so `choices: 1` is plain uniform random placement, and a
/// `choices` at least the number of eligible invokers gives the exact least loaded one.
///
/// Cost: O(d) positions typical; O(n) for the fallback list (then `.wait` if it is empty).
public struct PowerOfTwoStrategy: RoutingStrategy {
    public static let name = "power-of-two"

    /// `choices`: invokers sampled per decision, 1...16, default 2.
    /// `seed`: a whole number in 0...Int.max, default 1.
    public static let factory = StrategyFactory(
        name: name, summary: "the less loaded of a few eligible invokers sampled at random (seeded, reproducible)",
        parameters: [
            (name: "choices", description: "distinct eligible invokers sampled per decision, 1...16; default 2"),
            (name: "seed", description: "seed of the random generator, 0...\(Int.max); default 1"),
        ]
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown(["choices", "seed"])
        let choices = try parameters.int("choices", default: 2, range: 1...16)
        let seed = try parameters.int("seed", default: 1, range: 0...Int.max)
        return PowerOfTwoStrategy(choices: choices, seed: UInt64(seed))
    }

    public let choices: Int
    private var generator: SeededGenerator

    /// `choices` is clamped to 1...16.
    public init(choices: Int = 2, seed: UInt64 = 1) {
        self.choices = min(max(choices, 1), 16)
        generator = SeededGenerator(seed: seed)
    }

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        let count = cluster.positionCount
        guard count > 0 else { return .wait }
        var sampled: [Int] = []
        sampled.reserveCapacity(choices)
        // With no more positions than choices the sample is every eligible one: list them.
        if choices < count {
            var tries = 4 * choices + 4
            while sampled.count < choices && tries > 0 {
                tries -= 1
                let position = Int.random(in: 0..<count, using: &generator)
                if !sampled.contains(position) && cluster.isEligible(position, for: request) {
                    sampled.append(position)
                }
            }
        }
        if sampled.count < choices {
            // Complete the sample uniformly, without repeats (a partial Fisher-Yates shuffle;
            // it also puts the sample in random order, which breaks ties at random).
            var pool = cluster.eligiblePositions(for: request).filter { !sampled.contains($0) }
            var index = 0
            while sampled.count < choices && index < pool.count {
                pool.swapAt(index, Int.random(in: index..<pool.count, using: &generator))
                sampled.append(pool[index])
                index += 1
            }
        }
        guard let first = sampled.first, var best = cluster.invokers[first] else { return .wait }
        for position in sampled.dropFirst() {
            if let candidate = cluster.invokers[position], candidate.isLessLoaded(than: best) { best = candidate }
        }
        return .place(invokerID: best.id)
    }
}
