import SluicePluginAPI

/// Places activations on eligible invokers in turn. It remembers the position it chose last;
/// each decision probes the positions after it, wrapping around, and takes the first eligible
/// one, so ineligible or full invokers are skipped and the turn moves on. One cursor serves
/// every kind of request (managed, blackbox, tagged, dedicated), as OpenWhisk's round robin
/// keeps one counter.
///
/// Cost: O(1) positions when the next one is eligible, O(n) when none is (then `.wait`).
/// Deterministic: the cursor is the only state.
public struct RoundRobinStrategy: RoutingStrategy {
    public static let name = "round-robin"

    /// Takes no parameters.
    public static let factory = StrategyFactory(
        name: name, summary: "eligible invokers in turn, skipping those that cannot take the work"
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown([])
        return RoundRobinStrategy()
    }

    /// The position chosen last; -1 before the first placement, so position 0 goes first.
    private var last = -1

    public init() {}

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        let count = cluster.positionCount
        guard count > 0 else { return .wait }
        // `last` may lie beyond the view when positions went away; the modulo brings it back.
        var position = (last + 1) % count
        for _ in 0..<count {
            if cluster.isEligible(position, for: request), let invoker = cluster.invokers[position] {
                last = position
                return .place(invokerID: invoker.id)
            }
            position += 1
            if position == count { position = 0 }
        }
        return .wait
    }
}
