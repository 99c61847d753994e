import SluiceProtocol

/// Settings of the eligibility rule every strategy shares (docs/PROTOCOL.md §6.1).
public struct EligibilityPolicy: Sendable, Equatable {
    /// Share of positions that take managed (non-blackbox) actions, from the front.
    public var managedFraction = 0.9
    /// Share of positions that take blackbox actions, from the back.
    public var blackboxFraction = 0.1

    public init(managedFraction: Double = 0.9, blackboxFraction: Double = 0.1) {
        self.managedFraction = managedFraction
        self.blackboxFraction = blackboxFraction
    }

    /// Positions `0..<managedCount` take managed actions (OpenWhisk: at least one).
    public func managedCount(positions: Int) -> Int {
        max(1, Int((Double(positions) * managedFraction).rounded(.up)))
    }

    /// The last `blackboxCount` positions take blackbox actions (OpenWhisk: at least one).
    public func blackboxCount(positions: Int) -> Int {
        max(1, Int((Double(positions) * blackboxFraction).rounded(.down)))
    }
}

/// The read-only view of the cluster a strategy decides on.
///
/// Invokers are listed by position; a position whose invoker left is `nil` (OpenWhisk keeps
/// offline invokers in its list the same way). Eligibility is computed on demand per position,
/// so building a view costs nothing and a strategy pays only for the positions it looks at.
/// The view shares the broker's storage; it is valid only during the call that received it.
public struct ClusterView: Sendable {
    public let invokers: [InvokerSnapshot?]
    /// Registered invokers (non-nil positions).
    public let registeredCount: Int
    /// Activations in flight on all invokers.
    public let totalInFlight: Int
    public let policy: EligibilityPolicy
    /// For each namespace with dedicated invokers, how many are registered.
    public let dedicatedNamespaceCounts: [String: Int]
    /// For each action, the positions of invokers that reported warm containers for it.
    public let warmPositions: [String: Set<Int>]
    /// The load figures of `invokers`, by position, packed 16 bytes each: strategies that
    /// scan every invoker (least-loaded) read these instead of whole snapshots.
    public let loads: [InvokerLoad]

    public init(invokers: [InvokerSnapshot?], registeredCount: Int, totalInFlight: Int, policy: EligibilityPolicy = .init(),
                dedicatedNamespaceCounts: [String: Int] = [:], warmPositions: [String: Set<Int>] = [:]) {
        self.init(invokers: invokers, loads: invokers.map { $0.map(InvokerLoad.init) ?? .absent }, registeredCount: registeredCount,
                  totalInFlight: totalInFlight, policy: policy, dedicatedNamespaceCounts: dedicatedNamespaceCounts,
                  warmPositions: warmPositions)
    }

    /// The broker's view: `loads` must match `invokers` position by position.
    public init(invokers: [InvokerSnapshot?], loads: [InvokerLoad], registeredCount: Int, totalInFlight: Int,
                policy: EligibilityPolicy, dedicatedNamespaceCounts: [String: Int], warmPositions: [String: Set<Int>]) {
        precondition(loads.count == invokers.count, "one load per position")
        self.loads = loads
        self.invokers = invokers
        self.registeredCount = registeredCount
        self.totalInFlight = totalInFlight
        self.policy = policy
        self.dedicatedNamespaceCounts = dedicatedNamespaceCounts
        self.warmPositions = warmPositions
    }

    /// A view of just these invokers, at positions 0, 1, 2, ... (tests, tools, benchmarks).
    public init(_ snapshots: [InvokerSnapshot], policy: EligibilityPolicy = .init()) {
        var list: [InvokerSnapshot?] = []
        var dedicated: [String: Int] = [:]
        var warm: [String: Set<Int>] = [:]
        for (position, var snapshot) in snapshots.enumerated() {
            snapshot.position = position
            list.append(snapshot)
            for namespace in snapshot.dedicatedNamespaces { dedicated[namespace, default: 0] += 1 }
            for action in snapshot.warm.keys { warm[action, default: []].insert(position) }
        }
        self.init(invokers: list, registeredCount: snapshots.count, totalInFlight: snapshots.reduce(0) { $0 + $1.inFlight },
                  policy: policy, dedicatedNamespaceCounts: dedicated, warmPositions: warm)
    }

    /// Number of positions, registered or not (the `n` of OpenWhisk's modulo arithmetic).
    public var positionCount: Int { invokers.count }

    /// The §6.1 rule for one request, with everything that does not depend on the invoker
    /// worked out once. Strategies that look at many invokers use it through
    /// `isEligible(_:_:)` and scan only `positions`.
    public struct Rule: Sendable {
        public let memoryMB: UInt32
        public let requiredTags: [String]
        public let namespace: String
        /// The namespace has dedicated invokers: only they run it.
        public let dedicated: Bool
        /// The positions of the request's share (managed or blackbox; all for dedicated work).
        public let positions: Range<Int>
    }

    public func rule(for request: PlacementRequest) -> Rule {
        let header = request.header
        let count = invokers.count
        let dedicated = !dedicatedNamespaceCounts.isEmpty && dedicatedNamespaceCounts[header.namespace, default: 0] > 0
        let positions: Range<Int>
        if dedicated {
            positions = 0..<count
        } else if header.blackbox {
            positions = max(0, count - policy.blackboxCount(positions: count))..<count
        } else {
            positions = 0..<min(count, policy.managedCount(positions: count))
        }
        return Rule(memoryMB: header.memoryMB, requiredTags: header.requiredTags, namespace: header.namespace,
                    dedicated: dedicated, positions: positions)
    }

    /// Whether the invoker at `position` may take `request` now: every rule of §6.1,
    /// including room (a free slot and enough free memory).
    public func isEligible(_ position: Int, for request: PlacementRequest) -> Bool {
        guard position >= 0, position < invokers.count, let invoker = invokers[position] else { return false }
        return isEligible(invoker, rule(for: request))
    }

    /// Every rule of §6.1 except room: the invoker is healthy, not draining, and of the right
    /// kind for the request. A strategy may `force` work onto such an invoker.
    public func isAllowed(_ invoker: InvokerSnapshot, for request: PlacementRequest) -> Bool {
        isAllowed(invoker, rule(for: request))
    }

    /// `isEligible` with the request's rule worked out already.
    @inlinable
    public func isEligible(_ invoker: InvokerSnapshot, _ rule: Rule) -> Bool {
        invoker.freeSlots >= 1 && invoker.freeMemoryMB >= rule.memoryMB && isAllowed(invoker, rule)
    }

    /// `isAllowed` with the request's rule worked out already.
    @inlinable
    public func isAllowed(_ invoker: InvokerSnapshot, _ rule: Rule) -> Bool {
        switch invoker.health {
        case .healthy: break
        case .probing: if invoker.inFlight > 0 { return false }
        case .unhealthy, .unresponsive: return false
        }
        if invoker.draining || !rule.positions.contains(invoker.position) { return false }
        for tag in rule.requiredTags where !invoker.tags.contains(tag) { return false }
        if rule.dedicated { return invoker.dedicatedNamespaces.contains(rule.namespace) }
        return invoker.dedicatedNamespaces.isEmpty
    }

    /// Positions eligible for `request`, in order. O(n): for strategies that must look at all.
    public func eligiblePositions(for request: PlacementRequest) -> [Int] {
        let rule = rule(for: request)
        return rule.positions.filter { position in invokers[position].map { isEligible($0, rule) } ?? false }
    }
}
