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
        let rule = cluster.rule(for: request)
        var bestPosition = -1
        var bestInFlight = 0
        var bestSlots: UInt32 = 1
        var bestFree: UInt32 = 0
        var bestWarm = false
        for position in rule.positions {
            guard let candidate = cluster.invokers[position], cluster.isEligible(candidate, rule) else { continue }
            // Compare load inFlight/slots exactly: a/b < c/d  <=>  a*d < c*b.
            let left = UInt64(candidate.inFlight) * UInt64(max(bestSlots, 1))
            let right = UInt64(bestInFlight) * UInt64(max(candidate.slots, 1))
            let better: Bool
            if bestPosition < 0 || left < right {
                better = true
            } else if left > right {
                better = false
            } else {
                let warm = candidate.isWarm(for: action)
                better = warm != bestWarm ? warm : candidate.freeMemoryMB > bestFree
            }
            if better {
                bestPosition = position
                bestInFlight = candidate.inFlight
                bestSlots = candidate.slots
                bestFree = candidate.freeMemoryMB
                bestWarm = candidate.isWarm(for: action)
            }
        }
        return bestPosition < 0 ? nil : cluster.invokers[bestPosition]
    }
}
