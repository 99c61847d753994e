import SluicePluginAPI

/// Honours the invoker the controller named (`ACTIVATE` target-invoker; OpenWhisk's own
/// controller names one by publishing to topic `invoker<N>`), and places nothing else.
///
/// The broker core handles targeted activations itself before asking any strategy (it places
/// on the target when it is healthy with room, keeps the work waiting while it is full, and
/// answers `rejected` when the target is unknown), so this strategy normally sees only
/// requests without a target and answers them `.reject`: with `direct`, every controller must
/// name an invoker. Should it see a target anyway, it places there if that invoker is
/// eligible, waits if it is registered but not eligible now, and rejects if it is not in the
/// view.
///
/// Cost: O(1) for a request without a target; O(n) to find a named invoker by id.
public struct DirectStrategy: RoutingStrategy {
    public static let name = "direct"

    /// The reason given for a request without a target.
    public static let untargetedReason =
        "the direct strategy needs a target invoker (ACTIVATE target-invoker, OpenWhisk's invoker<N> topic)"

    /// Takes no parameters.
    public static let factory = StrategyFactory(
        name: name, summary: "only the invoker the controller names; rejects activations without a target"
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown([])
        return DirectStrategy()
    }

    public init() {}

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        let target = request.header.targetInvoker
        guard !target.isEmpty else { return .reject(reason: Self.untargetedReason) }
        guard let position = cluster.invokers.firstIndex(where: { $0?.id == target }) else {
            return .reject(reason: "target invoker '\(target)' is not registered")
        }
        return cluster.isEligible(position, for: request) ? .place(invokerID: target) : .wait
    }
}
