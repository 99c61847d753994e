import SluiceProtocol

/// What a strategy is asked to place.
public struct PlacementRequest: Sendable {
    public var header: RoutingHeader
    public init(header: RoutingHeader) { self.header = header }
}

/// The invokers a strategy may choose from for one request.
///
/// The broker applies eligibility once, before any strategy runs (healthy or probing, not
/// draining, a free slot and enough free memory for this request), so every invoker in
/// `eligible` can take the request now. An empty list means nobody has room.
public struct ClusterView: Sendable {
    public var eligible: [InvokerSnapshot]
    /// All registered invokers, count only (eligible or not).
    public var registeredCount: Int

    public init(eligible: [InvokerSnapshot], registeredCount: Int) {
        self.eligible = eligible
        self.registeredCount = registeredCount
    }
}

/// A strategy's answer for one request.
public enum PlacementDecision: Sendable, Equatable {
    /// Bind the activation to this invoker now. It must be one of `ClusterView.eligible`.
    case place(invokerID: String)
    /// Nobody suitable has room: keep the activation in the shared waiting queue.
    case wait
    /// Never placeable: answer `rejected` with this reason.
    case reject(reason: String)
}

/// Decides where activations run.
///
/// Contract:
/// - `place` is called on the broker's loop thread, once per placement attempt, and must
///   return quickly: O(1) or O(log n) in the number of invokers beyond reading `eligible`.
/// - A `.place` decision must name an invoker from `cluster.eligible`; the broker treats any
///   other id as a broken contract, logs it and keeps the activation waiting.
/// - Strategies never see payloads and never perform I/O.
/// - Notifications are advisory (for strategies that keep their own index); their default
///   implementations do nothing.
public protocol RoutingStrategy {
    /// The name used in configuration (`--strategy least-loaded`).
    static var name: String { get }

    mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision

    mutating func invokerJoined(_ invoker: InvokerSnapshot)
    mutating func invokerLeft(id: String)
    mutating func invokerChanged(_ invoker: InvokerSnapshot)
    mutating func activationCompleted(_ header: RoutingHeader, invokerID: String)
}

extension RoutingStrategy {
    public mutating func invokerJoined(_ invoker: InvokerSnapshot) {}
    public mutating func invokerLeft(id: String) {}
    public mutating func invokerChanged(_ invoker: InvokerSnapshot) {}
    public mutating func activationCompleted(_ header: RoutingHeader, invokerID: String) {}
}
