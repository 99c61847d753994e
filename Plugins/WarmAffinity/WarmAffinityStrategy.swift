import SluicePluginAPI

/// Places each activation on an invoker that is warm for its action, unless all of those are
/// busy, and otherwise on the least-loaded invoker: the locality-aware hybrid of Hermod
/// (Kaffes et al., "Hermod: principled and practical scheduling for serverless functions",
/// SoCC 2022).
///
/// Load is in-flight work relative to slots (`InvokerSnapshot.load`). For each request:
///
/// 1. **Warm candidates.** Among the eligible invokers (`ClusterView.isEligible`, §6.1) that
///    hold a warm container for the action (§4.12) and whose load is strictly below
///    `loadThreshold`:
///    - one with an idle warm container beats one whose warm containers are all busy (the
///      idle one starts the activation without a cold start);
///    - then the most loaded wins (packing: work concentrates on invokers that are already
///      busy and warm, which keeps their containers warm and leaves other invokers free for
///      other actions and for bursts);
///    - then the lower position.
/// 2. **Fallback.** If no warm candidate qualifies (none is warm, or every warm one is
///    ineligible or at/above the threshold), the least-loaded eligible invoker; ties go to
///    more free memory, then to the lower position.
/// 3. `.wait` if nothing is eligible. It never forces and never rejects.
///
/// The threshold bounds the packing: an invoker at or above it no longer attracts work by
/// being warm, so a popular action spreads out instead of queueing behind one invoker.
/// With `0.0` nothing is below it and the strategy is plain least-loaded; with `1.0` any
/// eligible warm invoker with fewer activations in flight than slots qualifies.
///
/// Deterministic: each phase picks the maximum of a total order (positions are unique), so the
/// answer depends only on the view and the threshold, not on the iteration order of
/// `warmPositions`. Stateless: the notifications are ignored.
///
/// Cost: the warm phase looks only at `cluster.warmPositions[action]`, O(k) for the k invokers
/// that reported a warm container for the action, each O(1) (a dictionary lookup and the
/// eligibility rule). Only when no warm candidate qualifies does it pay the O(n) pass of
/// least-loaded, so at worst O(k + n) ≤ O(2n).
public struct WarmAffinityStrategy: RoutingStrategy {
    public static let name = "warm-affinity"

    /// Load below which a warm invoker is preferred, unless configured.
    public static let defaultLoadThreshold = 0.8

    /// Takes `load-threshold` (0.0...1.0, default 0.8).
    public static let factory = StrategyFactory(
        name: name,
        summary: "an invoker warm for the action below the load threshold (idle container first, then the busiest); otherwise least-loaded",
        parameters: [(name: "load-threshold",
                      description: "load (in flight / slots) below which an invoker warm for the action is preferred, 0.0...1.0 (default 0.8)")]
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown(["load-threshold"])
        let threshold = try parameters.double("load-threshold", default: WarmAffinityStrategy.defaultLoadThreshold, range: 0.0...1.0)
        return WarmAffinityStrategy(loadThreshold: threshold)
    }

    /// A warm invoker is preferred only while its load is strictly below this.
    public let loadThreshold: Double

    /// `loadThreshold` must be in 0.0...1.0 (the factory checks configured values).
    public init(loadThreshold: Double = WarmAffinityStrategy.defaultLoadThreshold) {
        precondition((0.0...1.0).contains(loadThreshold), "warm-affinity: load threshold \(loadThreshold) is not in 0.0...1.0")
        self.loadThreshold = loadThreshold
    }

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        if let warm = Self.warmCandidate(request, in: cluster, below: loadThreshold) {
            return .place(invokerID: warm.id)
        }
        // Fallback: plain least-loaded (no warm preference: nothing warm qualified).
        guard let best = cluster.leastLoaded(for: request, preferWarm: false) else { return .wait }
        return .place(invokerID: best.id)
    }

    /// The best eligible invoker warm for the request's action with load below `threshold`, or
    /// nil: idle warm container first, then the most loaded, then the lower position. O(k).
    static func warmCandidate(_ request: PlacementRequest, in cluster: ClusterView, below threshold: Double) -> InvokerSnapshot? {
        let action = request.header.action
        guard let positions = cluster.warmPositions[action] else { return nil }
        var best: InvokerSnapshot?
        var bestPosition = 0
        var bestIdle = false
        // A set: the order is arbitrary, so the comparison below must be a total order.
        for position in positions where cluster.isEligible(position, for: request) {
            // The index finds candidates; the snapshot confirms (and says whether one is idle).
            guard let candidate = cluster.invokers[position], let entry = candidate.warm[action],
                  candidate.load < threshold else { continue }
            let idle = entry.idle > 0
            let better: Bool
            if let current = best {
                if idle != bestIdle {
                    better = idle
                } else if current.isLessLoaded(than: candidate) {
                    better = true
                } else if candidate.isLessLoaded(than: current) {
                    better = false
                } else {
                    better = position < bestPosition
                }
            } else {
                better = true
            }
            if better {
                best = candidate
                bestPosition = position
                bestIdle = idle
            }
        }
        return best
    }
}
