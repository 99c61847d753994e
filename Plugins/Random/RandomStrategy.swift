import SluicePluginAPI

/// Places each activation on an eligible invoker chosen uniformly at random, from a seeded
/// generator, so the same seed and the same sequence of inputs give the same decisions.
///
/// It draws up to 8 positions at random and takes the first eligible one; when all 8 miss
/// (few eligible invokers), it lists the eligible positions and picks one of them. Both
/// routes are uniform over the eligible invokers, so their mixture is too.
///
/// Cost: O(1) positions while a good share of invokers is eligible; O(n) for the fallback
/// list (then `.wait` if it is empty).
public struct RandomStrategy: RoutingStrategy {
    public static let name = "random"

    /// Random positions drawn before falling back to the list of eligible positions.
    static let sampleTries = 8

    /// `seed`: a whole number in 0...Int.max, default 1.
    public static let factory = StrategyFactory(
        name: name, summary: "an eligible invoker uniformly at random (seeded, reproducible)",
        parameters: [(name: "seed", description: "seed of the random generator, 0...\(Int.max); default 1")]
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown(["seed"])
        let seed = try parameters.int("seed", default: 1, range: 0...Int.max)
        return RandomStrategy(seed: UInt64(seed))
    }

    private var generator: SeededGenerator

    public init(seed: UInt64 = 1) {
        generator = SeededGenerator(seed: seed)
    }

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        let count = cluster.positionCount
        guard count > 0 else { return .wait }
        for _ in 0..<Self.sampleTries {
            let position = Int.random(in: 0..<count, using: &generator)
            if cluster.isEligible(position, for: request), let invoker = cluster.invokers[position] {
                return .place(invokerID: invoker.id)
            }
        }
        let eligible = cluster.eligiblePositions(for: request)
        guard !eligible.isEmpty else { return .wait }
        let position = eligible[Int.random(in: 0..<eligible.count, using: &generator)]
        return .place(invokerID: cluster.invokers[position]!.id)
    }
}
