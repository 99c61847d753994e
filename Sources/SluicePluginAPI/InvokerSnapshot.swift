import SluiceProtocol

/// How the broker currently judges an invoker (docs/PROTOCOL.md §5).
public enum InvokerHealth: String, Sendable, CaseIterable {
    /// Gets work.
    case healthy
    /// More than the allowed system errors among its recent outcomes; no work until probed.
    case unhealthy
    /// More than the allowed timeouts among its recent outcomes; no work until probed.
    case unresponsive
    /// Cool-down over: it gets exactly one activation to prove itself.
    case probing
}

/// What a routing strategy may know about one invoker: a read-only value, kept current by the
/// broker after every change.
public struct InvokerSnapshot: Sendable, Equatable {
    public var id: String
    /// The invoker's position, 0, 1, 2, ... in the order invokers first registered; it stays
    /// with the id (like an OpenWhisk invoker instance number).
    public var position: Int
    public var memoryMB: UInt32
    public var slots: UInt32
    public var freeMemoryMB: UInt32
    public var freeSlots: UInt32
    public var inFlight: Int
    public var health: InvokerHealth
    /// Capacity 0/0: takes no new work.
    public var draining: Bool
    public var tags: [String]
    public var dedicatedNamespaces: [String]
    /// Warm containers by action (§4.12).
    public var warm: [String: WarmReport.Entry]

    public init(id: String, position: Int = 0, memoryMB: UInt32, slots: UInt32, freeMemoryMB: UInt32, freeSlots: UInt32,
                inFlight: Int, health: InvokerHealth = .healthy, draining: Bool = false, tags: [String] = [],
                dedicatedNamespaces: [String] = [], warm: [String: WarmReport.Entry] = [:]) {
        self.id = id
        self.position = position
        self.memoryMB = memoryMB
        self.slots = slots
        self.freeMemoryMB = freeMemoryMB
        self.freeSlots = freeSlots
        self.inFlight = inFlight
        self.health = health
        self.draining = draining
        self.tags = tags
        self.dedicatedNamespaces = dedicatedNamespaces
        self.warm = warm
    }

    /// In-flight work relative to capacity, 0 (idle) to 1 (full) or more (over-committed).
    public var load: Double { slots == 0 ? 1 : Double(inFlight) / Double(slots) }

    /// Whether it holds a warm container for `action`.
    public func isWarm(for action: String) -> Bool { warm[action] != nil }

    /// Whether it has an idle warm container for `action` right now.
    public func hasIdleWarm(for action: String) -> Bool { (warm[action]?.idle ?? 0) > 0 }

    /// A free slot and `memoryMB` of free memory.
    public func hasRoom(forMemoryMB needed: UInt32) -> Bool { freeSlots >= 1 && freeMemoryMB >= needed }

    /// Orders by load (in-flight relative to slots), exactly, without floating point.
    public func isLessLoaded(than other: InvokerSnapshot) -> Bool {
        let left = UInt64(inFlight) * UInt64(max(other.slots, 1))
        let right = UInt64(other.inFlight) * UInt64(max(slots, 1))
        return left < right
    }
}

/// An invoker's load figures, packed for scans over every position (`ClusterView.loads`).
public struct InvokerLoad: Sendable, Equatable {
    public var inFlight: UInt32
    public var slots: UInt32
    public var freeSlots: UInt32
    public var freeMemoryMB: UInt32

    public init(inFlight: UInt32, slots: UInt32, freeSlots: UInt32, freeMemoryMB: UInt32) {
        self.inFlight = inFlight
        self.slots = slots
        self.freeSlots = freeSlots
        self.freeMemoryMB = freeMemoryMB
    }

    public init(_ snapshot: InvokerSnapshot) {
        self.init(inFlight: UInt32(clamping: snapshot.inFlight), slots: snapshot.slots, freeSlots: snapshot.freeSlots,
                  freeMemoryMB: snapshot.freeMemoryMB)
    }

    /// A position with no invoker: no room.
    public static let absent = InvokerLoad(inFlight: 0, slots: 0, freeSlots: 0, freeMemoryMB: 0)
}
