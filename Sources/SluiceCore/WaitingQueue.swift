import DequeModule
import SluiceProtocol

/// Work that waits for room (docs/PROTOCOL.md §6.1): one FIFO per namespace, offered to the
/// namespaces in turn so a flood from one cannot starve another.
///
/// Removal is O(1): an entry leaves the index at once and is dropped from its namespace's
/// deque when a drain or expiry reaches it (each entry carries a token that must match).
/// Deadlines (per-activation wait limits) live on a timing wheel.
struct WaitingQueue<Payload: FrameBytes> {
    struct Item {
        var header: RoutingHeader
        var payload: Payload
        var enqueuedAt: Timestamp
        var deadline: Timestamp
    }

    private struct Entry {
        var id: String
        var token: UInt64
    }

    private struct Live {
        var item: Item
        var token: UInt64
    }

    private var live: [String: Live] = [:]
    private var queues: [String: Deque<Entry>] = [:]
    /// Namespaces with (possibly) waiting work, in turn order.
    private var ring: Deque<String> = []
    private var nextToken: UInt64 = 1
    private var deadlines: DeadlineWheel<String>
    private(set) var bytes = 0
    private(set) var perNamespace: [String: Int] = [:]
    private(set) var perAction: [String: Int] = [:]

    init(start: Timestamp) {
        deadlines = DeadlineWheel(granularity: .milliseconds(50), buckets: 4096, start: start)
    }

    var count: Int { live.count }
    var isEmpty: Bool { live.isEmpty }
    // An empty queue answers without hashing the key (every ACTIVATE asks both).
    func contains(_ id: String) -> Bool { !live.isEmpty && live[id] != nil }
    func waiting(namespace: String) -> Int { live.isEmpty ? 0 : perNamespace[namespace, default: 0] }
    func waiting(action: String) -> Int { perAction[action, default: 0] }

    /// Adds an item at the back (or the front: a DISPATCH that could not be sent goes first).
    mutating func add(_ item: Item, atFront: Bool = false) {
        let id = item.header.activationID
        let token = nextToken
        nextToken += 1
        live[id] = Live(item: item, token: token)
        let namespace = item.header.namespace
        if queues[namespace] == nil {
            queues[namespace] = []
            ring.append(namespace)
        } else if perNamespace[namespace, default: 0] == 0 && !ring.contains(namespace) {
            ring.append(namespace)
        }
        if atFront { queues[namespace]!.prepend(Entry(id: id, token: token)) } else { queues[namespace]!.append(Entry(id: id, token: token)) }
        bytes += item.payload.count
        perNamespace[namespace, default: 0] += 1
        perAction[item.header.action, default: 0] += 1
        deadlines.schedule(id, at: item.deadline)
    }

    /// Takes an item out (it was placed, rejected or answered). Its deque entry goes stale.
    @discardableResult
    mutating func remove(_ id: String) -> Item? {
        guard let entry = live.removeValue(forKey: id) else { return nil }
        let item = entry.item
        deadlines.cancel(id, deadline: item.deadline)
        bytes -= item.payload.count
        Self.decrement(&perNamespace, item.header.namespace)
        Self.decrement(&perAction, item.header.action)
        return item
    }

    private static func decrement(_ counts: inout [String: Int], _ key: String) {
        let value = counts[key, default: 0] - 1
        counts[key] = value > 0 ? value : nil
    }

    /// Items whose wait limit has passed, removed; their namespaces' deques drop the stale
    /// entries at their heads (expired work is usually the oldest), so an outage without
    /// invokers does not pile up entries.
    mutating func expired(at now: Timestamp) -> [Item] {
        var ids: [String] = []
        deadlines.advance(to: now, into: &ids)
        let items = ids.compactMap { remove($0) }
        for namespace in Set(items.map(\.header.namespace)) { dropStaleHeads(namespace) }
        return items
    }

    private mutating func dropStaleHeads(_ namespace: String) {
        guard var queue = queues[namespace] else { return }
        queues[namespace] = nil
        while let head = queue.first, live[head.id]?.token != head.token { queue.removeFirst() }
        queues[namespace] = queue
    }

    /// Namespaces with waiting work, in turn order from the current turn.
    mutating func namespacesInTurn() -> [String] {
        var result: [String] = []
        result.reserveCapacity(ring.count)
        var kept: Deque<String> = []
        for namespace in ring where perNamespace[namespace, default: 0] > 0 {
            result.append(namespace)
            kept.append(namespace)
        }
        for namespace in ring where perNamespace[namespace, default: 0] == 0 {
            // Nothing waits here any more: forget its deque.
            queues[namespace] = nil
        }
        ring = kept
        return result
    }

    /// The turn moves past `namespace` (it was served): it goes to the back of the ring.
    mutating func served(_ namespace: String) {
        guard let index = ring.firstIndex(of: namespace) else { return }
        ring.remove(at: index)
        ring.append(namespace)
    }

    /// Up to `limit` live items of `namespace`, oldest first; drops stale entries it passes.
    mutating func peek(_ namespace: String, limit: Int) -> [Item] {
        guard var queue = queues[namespace] else { return [] }
        queues[namespace] = nil  // edit in place without a copy
        while let head = queue.first, live[head.id]?.token != head.token { queue.removeFirst() }
        var items: [Item] = []
        var kept: [Entry] = []
        var index = 0
        while index < queue.count && items.count < limit {
            let entry = queue[index]
            if let current = live[entry.id], current.token == entry.token {
                items.append(current.item)
                kept.append(entry)
            }
            index += 1
        }
        // Stale entries in the scanned prefix go now, so the next peek does not rescan them.
        if kept.count < index { queue.replaceSubrange(0..<index, with: kept) }
        queues[namespace] = queue
        return items
    }

    /// Every waiting item, namespace by namespace in turn order, oldest first within each
    /// (for shutdown and for invokers that leave).
    var orderedItems: [Item] {
        var items: [Item] = []
        items.reserveCapacity(live.count)
        for namespace in ring {
            for entry in queues[namespace] ?? [] {
                if let current = live[entry.id], current.token == entry.token { items.append(current.item) }
            }
        }
        return items
    }
}
