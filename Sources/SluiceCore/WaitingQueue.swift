import DequeModule
import SluiceProtocol

/// Work that waits for room (docs/PROTOCOL.md §6.1): one FIFO per namespace (a lane), offered
/// to the namespaces in turn so a flood from one cannot starve another.
///
/// Built for the path every activation takes when invokers are full: a namespace is hashed
/// once when its work arrives and never while work is placed (lanes are numbered), a waiting
/// item lives in its lane's deque and nowhere else, and the wait limits live on a timing wheel
/// keyed by numbers. Removal by id is O(log n): a lane's slots stay sorted by a per-lane token
/// (work sent back to the front gets a token below all others), so the slot is found by
/// binary search and emptied in place; emptied slots are dropped when they reach the head or
/// when a scan passes them.
struct WaitingQueue<Payload: FrameBytes> {
    struct Item {
        var header: RoutingHeader
        var payload: Payload
        var enqueuedAt: Timestamp
        var deadline: Timestamp
    }

    private struct Slot {
        /// nil once the item has left (placed, answered, expired).
        var item: Item?
        var token: Int64
    }

    private struct Lane {
        var namespace: String
        var slots: Deque<Slot> = []
        /// Items still waiting in `slots`.
        var live = 0
        /// The smallest and largest token given out in this lane.
        var frontToken: Int64 = 0
        var backToken: Int64 = 0
        var inRing = false
    }

    private struct Locator {
        var lane: Int
        var token: Int64
    }

    /// A wait limit on the wheel: hashed and compared by lane and token only.
    struct DeadlineKey: Hashable {
        var lane: Int
        var token: Int64
        var id: String
        static func == (a: Self, b: Self) -> Bool { a.token == b.token && a.lane == b.lane }
        func hash(into hasher: inout Hasher) {
            hasher.combine(token)
            hasher.combine(lane)
        }
    }

    private var live: [String: Locator] = [:]
    private var lanes: [Lane] = []
    private var laneOf: [String: Int] = [:]
    /// Lanes no namespace uses, to be reused.
    private var freeLanes: [Int] = []
    /// Lanes with (possibly) waiting work, in turn order.
    private var ring: Deque<Int> = []
    private var deadlines: DeadlineWheel<DeadlineKey>
    private(set) var bytes = 0
    private(set) var perAction: [String: Int] = [:]

    init(start: Timestamp) {
        deadlines = DeadlineWheel(granularity: .milliseconds(50), buckets: 4096, start: start)
    }

    var count: Int { live.count }
    var isEmpty: Bool { live.isEmpty }
    // An empty queue answers without hashing the key (every ACTIVATE asks both).
    func contains(_ id: String) -> Bool { !live.isEmpty && live[id] != nil }
    func waiting(namespace: String) -> Int {
        guard !live.isEmpty, let lane = laneOf[namespace] else { return 0 }
        return lanes[lane].live
    }
    func waiting(action: String) -> Int { live.isEmpty ? 0 : perAction[action, default: 0] }

    /// Waiting items by namespace (for snapshots).
    var perNamespace: [String: Int] {
        var result: [String: Int] = [:]
        for lane in lanes where lane.live > 0 { result[lane.namespace] = lane.live }
        return result
    }

    /// Adds an item at the back (or the front: a DISPATCH that could not be sent goes first).
    mutating func add(_ item: Item, atFront: Bool = false) {
        let id = item.header.activationID
        let namespace = item.header.namespace
        let lane: Int
        if let existing = laneOf[namespace] {
            lane = existing
        } else if let reused = freeLanes.popLast() {
            lane = reused
            lanes[lane] = Lane(namespace: namespace)
            laneOf[namespace] = lane
        } else {
            lane = lanes.count
            lanes.append(Lane(namespace: namespace))
            laneOf[namespace] = lane
        }
        let token: Int64
        if atFront {
            lanes[lane].frontToken -= 1
            token = lanes[lane].frontToken
            lanes[lane].slots.prepend(Slot(item: item, token: token))
        } else {
            lanes[lane].backToken += 1
            token = lanes[lane].backToken
            lanes[lane].slots.append(Slot(item: item, token: token))
        }
        lanes[lane].live += 1
        if !lanes[lane].inRing {
            lanes[lane].inRing = true
            ring.append(lane)
        }
        live[id] = Locator(lane: lane, token: token)
        bytes += item.payload.count
        perAction[item.header.action, default: 0] += 1
        deadlines.schedule(DeadlineKey(lane: lane, token: token, id: id), at: item.deadline)
    }

    /// Takes an item out (it was placed, rejected or answered).
    @discardableResult
    mutating func remove(_ id: String) -> Item? {
        guard let locator = live.removeValue(forKey: id) else { return nil }
        let lane = locator.lane
        guard let index = slotIndex(lane: lane, token: locator.token), let item = lanes[lane].slots[index].item else {
            preconditionFailure("waiting item \(id) is not in its lane")
        }
        lanes[lane].slots[index].item = nil
        lanes[lane].live -= 1
        if lanes[lane].live == 0 {
            lanes[lane].slots.removeAll(keepingCapacity: lanes[lane].slots.count <= 64)
        } else if index == 0 {
            dropEmptyHeads(lane)
        }
        deadlines.cancel(DeadlineKey(lane: lane, token: locator.token, id: id), deadline: item.deadline)
        bytes -= item.payload.count
        let left = perAction[item.header.action, default: 0] - 1
        perAction[item.header.action] = left > 0 ? left : nil
        return item
    }

    /// The index of `token`'s slot in `lane`, if it is there.
    private func slotIndex(lane: Int, token: Int64) -> Int? {
        let index = firstSlot(lane: lane, atLeast: token)
        return index < lanes[lane].slots.count && lanes[lane].slots[index].token == token ? index : nil
    }

    /// Binary search: the first slot of `lane` whose token is `token` or more (a lane's slots
    /// are sorted by token).
    private func firstSlot(lane: Int, atLeast token: Int64) -> Int {
        let slots = lanes[lane].slots
        var low = 0, high = slots.count
        while low < high {
            let middle = (low + high) / 2
            if slots[middle].token < token { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private mutating func dropEmptyHeads(_ lane: Int) {
        while let head = lanes[lane].slots.first, head.item == nil { lanes[lane].slots.removeFirst() }
    }

    /// Items whose wait limit has passed, removed (expired work is usually the oldest, so
    /// its emptied slots leave with it at the heads).
    mutating func expired(at now: Timestamp) -> [Item] {
        guard deadlines.count > 0 else { return [] }
        var keys: [DeadlineKey] = []
        deadlines.advance(to: now, into: &keys)
        return keys.compactMap { remove($0.id) }
    }

    /// Lanes with waiting work, in turn order from the current turn; lanes left empty leave
    /// the ring (and are freed for other namespaces).
    mutating func lanesInTurn(into result: inout [Int]) {
        result.removeAll(keepingCapacity: true)
        var index = 0
        while index < ring.count {
            let lane = ring[index]
            if lanes[lane].live > 0 {
                result.append(lane)
                index += 1
            } else {
                ring.remove(at: index)
                lanes[lane].inRing = false
                laneOf[lanes[lane].namespace] = nil
                lanes[lane] = Lane(namespace: "")
                freeLanes.append(lane)
            }
        }
    }

    func namespace(of lane: Int) -> String { lanes[lane].namespace }

    /// The oldest waiting item of `lane` after the one with token `after` (nil: from the
    /// head), and its token. Tokens, unlike indices, stay valid while items leave.
    func item(in lane: Int, after token: Int64?) -> (item: Item, token: Int64)? {
        let slots = lanes[lane].slots
        var index = token.map { firstSlot(lane: lane, atLeast: $0 + 1) } ?? 0
        while index < slots.count {
            if let item = slots[index].item { return (item, slots[index].token) }
            index += 1
        }
        return nil
    }

    /// Drops emptied slots among the first `limit` of `lane` (before a scan, so one does not
    /// pass them again).
    mutating func compact(_ lane: Int, limit: Int) {
        dropEmptyHeads(lane)
        let slots = lanes[lane].slots
        let end = min(limit, slots.count)
        guard end > 0, slots.prefix(end).contains(where: { $0.item == nil }) else { return }
        let kept = slots.prefix(end).filter { $0.item != nil }
        lanes[lane].slots.replaceSubrange(0..<end, with: kept)
    }

    /// The turn moves past `lane` (it was served): it goes to the back of the ring.
    mutating func served(_ lane: Int) {
        guard ring.count > 1, let index = ring.firstIndex(of: lane) else { return }
        ring.remove(at: index)
        ring.append(lane)
    }

    /// Every waiting item, namespace by namespace in turn order, oldest first within each
    /// (for shutdown and for invokers that leave).
    var orderedItems: [Item] {
        var items: [Item] = []
        items.reserveCapacity(live.count)
        for lane in ring {
            for slot in lanes[lane].slots { if let item = slot.item { items.append(item) } }
        }
        return items
    }
}
