import SluicePluginAPI

/// Places each activation on the eligible invoker with the lowest load (in-flight work
/// relative to its slots). Ties go to an invoker warm for the action, then to more free
/// memory, then to the lower position, so placement is deterministic.
///
/// Cost: one pass over the positions, O(n). That is the price of an exact minimum under
/// per-request eligibility (tags, namespaces, memory); at 1,000 invokers it stays in the
/// microseconds (`sluice strategy-bench`).
public struct LeastLoadedStrategy: RoutingStrategy {
    public static let name = "least-loaded"

    /// Takes no parameters.
    public static let factory = StrategyFactory(
        name: name, summary: "fewest in flight relative to capacity; ties go to an invoker warm for the action"
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown([])
        return LeastLoadedStrategy()
    }

    public init() {}

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        guard let best = cluster.leastLoaded(for: request, preferWarm: true) else { return .wait }
        return .place(invokerID: best.id)
    }
}
