import SluicePluginAPI
import SluiceProtocol

/// What the broker knows about one registered invoker.
struct InvokerState {
    enum Sample { case ok, systemError, timeout }

    let id: String
    var route: RoutingID
    var memoryMB: UInt32
    var slots: UInt32
    var tags: [String]
    var usedMemoryMB: UInt32 = 0
    var usedSlots: UInt32 = 0
    var inFlight: Set<String> = []
    var lastSeen: Timestamp
    var health = InvokerHealth.healthy
    /// The most recent outcomes, oldest first, at most `healthWindow`.
    var recent: [Sample] = []
    var cooldownUntil = Timestamp.zero

    var draining: Bool { memoryMB == 0 && slots == 0 }

    /// Eligibility (applied before any strategy): healthy, or probing with nothing in flight;
    /// a free slot; enough free memory.
    func canTake(memoryMB needed: UInt32) -> Bool {
        switch health {
        case .healthy: break
        case .probing: if usedSlots > 0 { return false }
        case .unhealthy, .unresponsive: return false
        }
        // 64-bit sums: memory values are u32 from the wire and must not overflow (§7).
        return usedSlots < slots && UInt64(usedMemoryMB) + UInt64(needed) <= UInt64(memoryMB)
    }

    var snapshot: InvokerSnapshot {
        InvokerSnapshot(id: id, memoryMB: memoryMB, slots: slots,
                        freeMemoryMB: memoryMB > usedMemoryMB ? memoryMB - usedMemoryMB : 0,
                        freeSlots: slots > usedSlots ? slots - usedSlots : 0,
                        inFlight: inFlight.count, health: health, tags: tags)
    }
}

/// What the broker knows about one controller id.
struct ControllerState<Payload> {
    let id: String
    /// The current connection, nil while disconnected.
    var route: RoutingID?
    var lastSeen: Timestamp
    /// Answers waiting for this controller to come back (§6.4), oldest first.
    var parked: [ParkedAnswer<Payload>] = []
    var parkedHead = 0

    var parkedCount: Int { parked.count - parkedHead }
}

struct ParkedAnswer<Payload> {
    var answer: AnswerHeader
    var result: Payload?
    var parkedAt: Timestamp
}
