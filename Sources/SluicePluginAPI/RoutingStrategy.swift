import SluiceProtocol

/// What a strategy is asked to place.
public struct PlacementRequest: Sendable {
    public var header: RoutingHeader
    public init(header: RoutingHeader) { self.header = header }
}

/// A strategy's answer for one request.
public enum PlacementDecision: Sendable, Equatable {
    /// Bind the activation to this invoker now. It must be eligible (`ClusterView.isEligible`).
    case place(invokerID: String)
    /// Bind it to this invoker even though it is full (OpenWhisk's forced placement when every
    /// invoker is full). It must pass `ClusterView.isAllowed`. This over-commits the invoker,
    /// which breaks Sluice's late-binding promise; only strategies that emulate OpenWhisk use it.
    case force(invokerID: String)
    /// Nobody suitable has room: keep the activation in the shared waiting queue.
    case wait
    /// Never placeable: answer `rejected` with this reason.
    case reject(reason: String)
}

/// Decides where activations run.
///
/// Contract (checked for every strategy by `SluiceTestKit`):
/// - `place` runs on the broker's loop thread, once per placement attempt, and must return
///   quickly: it should look at O(1) or O(log n) positions of the view, and never at more
///   than O(n).
/// - `.place` names an invoker that `cluster.isEligible` accepts; `.force` one that
///   `cluster.isAllowed` accepts. The broker checks: any other answer is a broken contract,
///   reported as a notice, and the activation keeps waiting.
/// - `.wait` when no eligible invoker has room. The same inputs and the same seed give the
///   same decisions.
/// - Strategies never see payloads and never perform I/O.
/// - Notifications arrive on the same thread, after the change is visible in later views;
///   their default implementations do nothing.
public protocol RoutingStrategy {
    /// The name used in configuration (`routing.strategy: least-loaded`).
    static var name: String { get }

    /// The name of this instance; defaults to `Self.name`. Strategies loaded from external
    /// plugins share one type and differ here.
    var strategyName: String { get }

    mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision

    mutating func invokerJoined(_ invoker: InvokerSnapshot)
    mutating func invokerLeft(_ invoker: InvokerSnapshot)
    mutating func invokerChanged(_ invoker: InvokerSnapshot)
    /// An activation placed on `invokerID` has left it (completed, timed out, or lost with it).
    mutating func activationCompleted(_ activation: CompletedActivation, invokerID: String)
}

/// What a strategy hears about an activation that left its invoker. The broker keeps only
/// these fields of an activation in flight (docs/PERFORMANCE.md, "What the profile showed, and what changed"); the full routing
/// header was in `place`'s request.
public struct CompletedActivation: Sendable, Equatable {
    public var activationID: String
    public var namespace: String
    public var memoryMB: UInt32

    public init(activationID: String, namespace: String, memoryMB: UInt32) {
        self.activationID = activationID
        self.namespace = namespace
        self.memoryMB = memoryMB
    }
}

extension RoutingStrategy {
    public var strategyName: String { Self.name }
    public mutating func invokerJoined(_ invoker: InvokerSnapshot) {}
    public mutating func invokerLeft(_ invoker: InvokerSnapshot) {}
    public mutating func invokerChanged(_ invoker: InvokerSnapshot) {}
    public mutating func activationCompleted(_ activation: CompletedActivation, invokerID: String) {}
}
