extension ClusterView {
    /// The eligible invoker with the lowest load (in flight relative to slots), or nil if none
    /// is eligible. Ties go to an invoker warm for the action when `preferWarm`, then to more
    /// free memory, then to the lower position, so the choice is deterministic.
    ///
    /// Scans only the request's share of positions and compares fields without copying
    /// snapshots: O(n), about 20 µs at 1,000 invokers (`sluice strategy-bench`). Shared by
    /// `least-loaded` and by strategies that fall back to it.
    public func leastLoaded(for request: PlacementRequest, preferWarm: Bool) -> InvokerSnapshot? {
        let action = request.header.action
        let rule = rule(for: request)
        var bestPosition = -1
        var bestInFlight = 0
        var bestSlots: UInt32 = 1
        var bestFree: UInt32 = 0
        var bestWarm = false
        for position in rule.positions {
            guard let candidate = invokers[position], isEligible(candidate, rule) else { continue }
            // Compare load inFlight/slots exactly: a/b < c/d  <=>  a*d < c*b.
            let left = UInt64(candidate.inFlight) * UInt64(max(bestSlots, 1))
            let right = UInt64(bestInFlight) * UInt64(max(candidate.slots, 1))
            let warm = preferWarm && candidate.isWarm(for: action)
            let better: Bool
            if bestPosition < 0 || left < right {
                better = true
            } else if left > right {
                better = false
            } else {
                // Equal load; strict comparisons keep the lower position on a full tie.
                better = warm != bestWarm ? warm : candidate.freeMemoryMB > bestFree
            }
            if better {
                bestPosition = position
                bestInFlight = candidate.inFlight
                bestSlots = candidate.slots
                bestFree = candidate.freeMemoryMB
                bestWarm = warm
            }
        }
        return bestPosition < 0 ? nil : invokers[bestPosition]
    }
}
