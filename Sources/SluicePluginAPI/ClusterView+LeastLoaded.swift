extension ClusterView {
    /// The eligible invoker with the lowest load (in flight relative to slots), or nil if none
    /// is eligible. Ties go to an invoker warm for the action when `preferWarm`, then to more
    /// free memory, then to the lower position, so the choice is deterministic.
    ///
    /// Scans only the request's share of positions, over the packed `loads`, and reads a
    /// snapshot only for an invoker that would be the best so far: O(n), about a microsecond at
    /// 1,000 invokers (`sluice strategy-bench`). Shared by `least-loaded` and by strategies that
    /// fall back to it.
    public func leastLoaded(for request: PlacementRequest, preferWarm: Bool) -> InvokerSnapshot? {
        let rule = rule(for: request)
        // Warm positions come from the view's index (one lookup), not from each invoker.
        let warmSet = preferWarm ? warmPositions[request.header.action] : nil
        var bestPosition = -1
        var bestInFlight = 0
        var bestSlots: UInt32 = 1
        var bestFree: UInt32 = 0
        var bestWarm = false
        loads.withUnsafeBufferPointer { loads in
            for position in rule.positions {
                // Packed load figures first (16 bytes an invoker): most invokers are not better
                // than the best so far, and they cost no snapshot read and no eligibility work.
                let load = loads[position]
                guard load.freeSlots >= 1, load.freeMemoryMB >= rule.memoryMB else { continue }
                let inFlight = Int(load.inFlight), slots = load.slots, freeMemory = load.freeMemoryMB
                // Compare load inFlight/slots exactly: a/b < c/d  <=>  a*d < c*b.
                let left = UInt64(inFlight) * UInt64(max(bestSlots, 1))
                let right = UInt64(bestInFlight) * UInt64(max(slots, 1))
                let warm: Bool
                if bestPosition < 0 || left < right {
                    warm = warmSet?.contains(position) ?? false
                } else if left > right {
                    continue
                } else {
                    // Equal load; strict comparisons keep the lower position on a full tie.
                    warm = warmSet?.contains(position) ?? false
                    guard warm != bestWarm ? warm : freeMemory > bestFree else { continue }
                }
                guard let candidate = invokers[position], isEligible(candidate, rule) else { continue }
                bestPosition = position
                bestInFlight = inFlight
                bestSlots = slots
                bestFree = freeMemory
                bestWarm = warm
            }
        }
        return bestPosition < 0 ? nil : invokers[bestPosition]
    }
}
