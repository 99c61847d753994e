import SluicePluginAPI

/// Places each activation on the eligible invoker with the lowest load (in-flight work
/// relative to its slots). Ties go to the invoker with more free memory, then to the
/// smallest id, so placement is deterministic.
///
/// Cost: one pass over the eligible invokers, O(n). An indexed variant (a heap keyed by load,
/// kept current through the notifications) is the planned O(log n) form for large clusters.
public struct LeastLoadedStrategy: RoutingStrategy {
    public static let name = "least-loaded"

    public init() {}

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        var best: InvokerSnapshot?
        for candidate in cluster.eligible {
            guard let current = best else { best = candidate; continue }
            if Self.isLess(candidate, than: current) { best = candidate }
        }
        guard let best else { return .wait }
        return .place(invokerID: best.id)
    }

    static func isLess(_ lhs: InvokerSnapshot, than rhs: InvokerSnapshot) -> Bool {
        // Compare inFlight/slots without floating point: a/b < c/d  <=>  a*d < c*b.
        let left = UInt64(lhs.inFlight) * UInt64(max(rhs.slots, 1))
        let right = UInt64(rhs.inFlight) * UInt64(max(lhs.slots, 1))
        if left != right { return left < right }
        if lhs.freeMemoryMB != rhs.freeMemoryMB { return lhs.freeMemoryMB > rhs.freeMemoryMB }
        return lhs.id < rhs.id
    }
}
