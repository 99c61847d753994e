import DequeModule
import SluicePluginAPI
import SluiceProtocol

/// What the broker knows about one registered invoker.
struct InvokerState {
    enum Sample { case ok, systemError, timeout }

    let id: String
    /// Stable position in the cluster view (§6.1).
    let position: Int
    var route: RoutingID
    /// When this session's next HEARTBEAT is due (§4.3): each session has its own phase, so
    /// heartbeats to 1,000 invokers are spread over the interval instead of sent in one burst.
    var heartbeatDue = Timestamp.zero
    var memoryMB: UInt32
    var slots: UInt32
    var tags: [String]
    var dedicatedNamespaces: [String] = []
    var warm: [String: WarmReport.Entry] = [:]
    /// 64 bits: forced placements (`PlacementDecision.force`) may take it past `memoryMB`, and
    /// past what 32 bits hold (issue 13, item 8).
    var usedMemoryMB: UInt64 = 0
    var usedSlots: UInt32 = 0
    /// Handles of its activations in `BrokerCore.inFlight`.
    var inFlight: Set<InFlightTable.Handle> = []
    var lastSeen: Timestamp
    var health = InvokerHealth.healthy
    /// The most recent outcomes, at most `healthWindow`.
    var recent = HealthWindow()
    var cooldownUntil = Timestamp.zero

    var draining: Bool { memoryMB == 0 && slots == 0 }

    /// Health and room only: used for activations that name their invoker, and to tell whether
    /// any invoker has room at all. Strategies get the full rule from `ClusterView`.
    func canTake(memoryMB needed: UInt32) -> Bool {
        switch health {
        case .healthy: break
        case .probing: if usedSlots > 0 { return false }
        case .unhealthy, .unresponsive: return false
        }
        // 64-bit sums: memory values are u32 from the wire and must not overflow (§7).
        return usedSlots < slots && usedMemoryMB + UInt64(needed) <= UInt64(memoryMB)
    }

    /// The load figures of `snapshot`, without building it.
    var load: InvokerLoad {
        InvokerLoad(inFlight: UInt32(clamping: inFlight.count), slots: slots,
                    freeSlots: slots > usedSlots ? slots - usedSlots : 0,
                    freeMemoryMB: UInt64(memoryMB) > usedMemoryMB ? UInt32(UInt64(memoryMB) - usedMemoryMB) : 0)
    }

    var snapshot: InvokerSnapshot {
        InvokerSnapshot(id: id, position: position, memoryMB: memoryMB, slots: slots,
                        freeMemoryMB: UInt64(memoryMB) > usedMemoryMB ? UInt32(UInt64(memoryMB) - usedMemoryMB) : 0,
                        freeSlots: slots > usedSlots ? slots - usedSlots : 0,
                        inFlight: inFlight.count, health: health, draining: draining, tags: tags,
                        dedicatedNamespaces: dedicatedNamespaces, warm: warm)
    }
}

/// What the broker knows about one controller id.
struct ControllerState<Payload> {
    let id: String
    /// The current connection, nil while disconnected.
    var route: RoutingID?
    /// The connection of its last ended session (see `BrokerCore.formerControllerRoutes`).
    var formerRoute: RoutingID?
    var lastSeen: Timestamp
    /// This session asked for COMPLETED notices (FOLLOW, §10.1).
    var follows = false
    /// When this session's next HEARTBEAT is due (see `InvokerState.heartbeatDue`).
    var heartbeatDue = Timestamp.zero
    /// Answers waiting for this controller to come back (§6.4), oldest first: appended and
    /// expired in O(1), and compact (a deque frees what expiry takes off its front).
    var parked: Deque<ParkedAnswer<Payload>> = []

    var parkedCount: Int { parked.count }
}

struct ParkedAnswer<Payload> {
    var answer: AnswerHeader
    var result: Payload?
    var parkedAt: Timestamp
}

/// The last N outcomes of an invoker, with the failures among them counted as they come and
/// go: recording one is O(1) and allocates only while the window first fills.
struct HealthWindow {
    typealias Sample = InvokerState.Sample
    private var ring: [Sample] = []
    private var next = 0
    private(set) var systemErrors = 0
    private(set) var timeouts = 0

    var count: Int { ring.count }

    mutating func record(_ sample: Sample, capacity: Int) {
        if ring.count < capacity {
            ring.append(sample)
        } else {
            forget(ring[next])
            ring[next] = sample
            next = (next + 1) % ring.count
        }
        switch sample {
        case .ok: break
        case .systemError: systemErrors += 1
        case .timeout: timeouts += 1
        }
    }

    private mutating func forget(_ sample: Sample) {
        switch sample {
        case .ok: break
        case .systemError: systemErrors -= 1
        case .timeout: timeouts -= 1
        }
    }

    mutating func removeAll() {
        ring.removeAll(keepingCapacity: true)
        next = 0
        systemErrors = 0
        timeouts = 0
    }
}

extension InvokerSnapshot {
    /// Writes the load figures (`InvokerState.load`) in place.
    mutating func setLoad(_ load: InvokerLoad) {
        freeMemoryMB = load.freeMemoryMB
        freeSlots = load.freeSlots
        inFlight = Int(load.inFlight)
    }
}
