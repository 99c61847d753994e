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

/// What a routing strategy may know about one invoker: a read-only value.
public struct InvokerSnapshot: Sendable, Equatable {
    public var id: String
    public var memoryMB: UInt32
    public var slots: UInt32
    public var freeMemoryMB: UInt32
    public var freeSlots: UInt32
    public var inFlight: Int
    public var health: InvokerHealth
    public var tags: [String]

    public init(id: String, memoryMB: UInt32, slots: UInt32, freeMemoryMB: UInt32, freeSlots: UInt32,
                inFlight: Int, health: InvokerHealth, tags: [String]) {
        self.id = id
        self.memoryMB = memoryMB
        self.slots = slots
        self.freeMemoryMB = freeMemoryMB
        self.freeSlots = freeSlots
        self.inFlight = inFlight
        self.health = health
        self.tags = tags
    }

    /// In-flight work relative to capacity, 0 (idle) to 1 (full) or more (over-committed).
    public var load: Double { slots == 0 ? 1 : Double(inFlight) / Double(slots) }
}
