import SluicePluginAPI

/// Places each activation on an invoker that has an idle warm container for its action, unless
/// all of those are busy, and otherwise on the least-loaded invoker: the locality- and
/// load-aware hybrid of Hermod (Kaffes et al., "Hermod: principled and practical scheduling for
/// serverless functions", SoCC 2022).
///
/// Load is in-flight work relative to slots (`InvokerSnapshot.load`). For each request:
///
/// 1. **Warm candidates.** Among the eligible invokers (`ClusterView.isEligible`, §6.1) that
///    reported an *idle* warm container for the action (§4.12) and whose load is strictly below
///    `loadThreshold`, the least loaded wins, then the lower position.
/// 2. **Fallback.** If no warm candidate qualifies, the least-loaded eligible invoker; ties go
///    to more free memory, then to the lower position.
/// 3. `.wait` if nothing is eligible. It never forces and never rejects.
///
/// Why these defaults (docs/PLACEMENT.md, measured with `sluice simulate`): an invoker whose
/// warm containers are all busy starts a new container anyway, so preferring it only adds a
/// cold start to a busier invoker; and packing onto the busiest warm invoker makes activations
/// share cores (slots usually exceed cores). On the Hermod setup the defaults cut p99 slowdown
/// at full load from 83 to 5.5 (balanced mix) and from 35 to 2.3 (skewed), with fewer cold starts.
///
/// Two parameters bring back the earlier rule, Hermod's consolidation for cost:
/// - `busy-warm: true`: an invoker warm for the action counts even when all its warm
///   containers are busy (an idle one is still preferred);
/// - `pack: true`: among warm candidates, the *most* loaded wins, concentrating work on busy
///   warm invokers and leaving others free.
///
/// The threshold bounds the warm preference: an invoker at or above it no longer attracts work
/// by being warm. With `0.0` nothing is below it and the strategy is plain least-loaded; with
/// `1.0` any eligible warm invoker with fewer activations in flight than slots qualifies.
///
/// Deterministic: each phase picks the maximum of a total order (positions are unique), so the
/// answer depends only on the view and the parameters, not on the iteration order of
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

    /// Takes `load-threshold` (0.0...1.0, default 0.8), `pack` (default false) and `busy-warm`
    /// (default false).
    public static let factory = StrategyFactory(
        name: name,
        summary: "the least-loaded invoker with an idle warm container for the action below the load threshold; otherwise least-loaded",
        parameters: [(name: "load-threshold",
                      description: "load (in flight / slots) below which an invoker warm for the action is preferred, 0.0...1.0 (default 0.8)"),
                     (name: "pack",
                      description: "among warm candidates, the busiest wins (true) or the least loaded (false, default)"),
                     (name: "busy-warm",
                      description: "an invoker whose warm containers for the action are all busy still counts as warm (default false)")]
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown(["load-threshold", "pack", "busy-warm"])
        let threshold = try parameters.double("load-threshold", default: WarmAffinityStrategy.defaultLoadThreshold, range: 0.0...1.0)
        return WarmAffinityStrategy(loadThreshold: threshold, pack: try parameters.bool("pack", default: false),
                                    busyWarm: try parameters.bool("busy-warm", default: false))
    }

    /// A warm invoker is preferred only while its load is strictly below this.
    public let loadThreshold: Double
    /// Among warm candidates of the same kind (idle container or not), the most loaded wins;
    /// false: the least loaded.
    public let pack: Bool
    /// An invoker whose warm containers for the action are all busy is still a warm candidate;
    /// false: only an idle warm container makes an invoker a candidate.
    public let busyWarm: Bool

    /// `loadThreshold` must be in 0.0...1.0 (the factory checks configured values).
    public init(loadThreshold: Double = WarmAffinityStrategy.defaultLoadThreshold, pack: Bool = false, busyWarm: Bool = false) {
        precondition((0.0...1.0).contains(loadThreshold), "warm-affinity: load threshold \(loadThreshold) is not in 0.0...1.0")
        self.loadThreshold = loadThreshold
        self.pack = pack
        self.busyWarm = busyWarm
    }

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        if let warm = Self.warmCandidate(request, in: cluster, below: loadThreshold, pack: pack, busyWarm: busyWarm) {
            return .place(invokerID: warm.id)
        }
        // Fallback: plain least-loaded (no warm preference: nothing warm qualified).
        guard let best = cluster.leastLoaded(for: request, preferWarm: false) else { return .wait }
        return .place(invokerID: best.id)
    }

    /// The best eligible invoker warm for the request's action with load below `threshold`, or
    /// nil: idle warm container first (only those unless `busyWarm`), then the least loaded (the
    /// most loaded with `pack`), then the lower position. O(k).
    static func warmCandidate(_ request: PlacementRequest, in cluster: ClusterView, below threshold: Double,
                              pack: Bool, busyWarm: Bool) -> InvokerSnapshot? {
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
            if !busyWarm && !idle { continue }
            let better: Bool
            if let current = best {
                if idle != bestIdle {
                    better = idle
                } else if current.isLessLoaded(than: candidate) {
                    better = pack
                } else if candidate.isLessLoaded(than: current) {
                    better = !pack
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
