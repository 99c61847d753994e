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
        guard let best = Self.leastLoaded(request, in: cluster) else { return .wait }
        return .place(invokerID: best.id)
    }

    /// The least-loaded eligible invoker, or nil. Shared with strategies that fall back to it.
    public static func leastLoaded(_ request: PlacementRequest, in cluster: ClusterView) -> InvokerSnapshot? {
        let action = request.header.action
        var best: InvokerSnapshot?
        var bestWarm = false
        for position in cluster.invokers.indices where cluster.isEligible(position, for: request) {
            let candidate = cluster.invokers[position]!
            let warm = candidate.isWarm(for: action)
            guard let current = best else {
                best = candidate
                bestWarm = warm
                continue
            }
            if candidate.isLessLoaded(than: current) {
                best = candidate
                bestWarm = warm
            } else if !current.isLessLoaded(than: candidate) {
                // Equal load.
                if warm != bestWarm {
                    if warm { best = candidate; bestWarm = true }
                } else if candidate.freeMemoryMB > current.freeMemoryMB {
                    best = candidate
                    bestWarm = warm
                }
            }
        }
        return best
    }
}
