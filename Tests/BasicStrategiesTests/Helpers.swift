import SluicePluginAPI
import SluiceProtocol

/// A plain managed request for `guest/a` (256 MB), optionally naming a target invoker.
func plainRequest(_ id: String = "a", action: String = "guest/a", memoryMB: UInt32 = 256, target: String = "") -> PlacementRequest {
    PlacementRequest(header: RoutingHeader(activationID: id, namespace: "guest", action: action, memoryMB: memoryMB,
                                           targetInvoker: target))
}

/// The invoker a `.place` decision names, or nil for any other decision.
func placedID(_ decision: PlacementDecision) -> String? {
    if case .place(let id) = decision { return id }
    return nil
}

/// The invokers `strategy` places `decisions` requests on, in order, on an unchanging view
/// (`nil` for any decision other than `.place`).
func placements(_ strategy: inout some RoutingStrategy, in view: ClusterView, decisions: Int) -> [String?] {
    (0..<decisions).map { index in placedID(strategy.place(plainRequest("r\(index)"), in: view)) }
}

/// How often each invoker was chosen.
func tally(_ ids: [String?]) -> [String: Int] {
    ids.reduce(into: [:]) { counts, id in counts[id ?? "none", default: 0] += 1 }
}
