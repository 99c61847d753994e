/// A set that remembers at most `capacity` members and forgets the oldest first: the ids of
/// activations answered recently, so that a late message about one is recognised without
/// keeping every id ever seen. Used by the broker core (late completions) and by the
/// controller client (late answers after its own timeout).
public struct RecentSet<Element: Hashable & Sendable>: Sendable {
    /// Each member with the sequence number of its latest insertion.
    private var members: [Element: UInt64] = [:]
    /// Insertions, oldest first from `head` on; entries before `head` are forgotten.
    private var order: [(element: Element, sequence: UInt64)] = []
    private var head = 0
    private var sequence: UInt64 = 0
    public let capacity: Int

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public var count: Int { members.count }

    public func contains(_ element: Element) -> Bool { !members.isEmpty && members[element] != nil }

    /// Entries the insertion order holds, forgotten ones included: at most about 4 x capacity.
    var storedEntries: Int { order.count }

    public mutating func insert(_ element: Element) {
        guard members[element] == nil else { return }
        sequence += 1
        members[element] = sequence
        order.append((element, sequence))
        // Forget the oldest while over capacity, or while removed members' stale entries make
        // the window longer than twice the capacity (so memory stays bounded either way).
        while members.count > capacity || order.count - head > 2 * capacity {
            let (oldest, inserted) = order[head]
            head += 1
            // Skip insertions that a `remove` (and perhaps a later insert) made stale.
            if members[oldest] == inserted { members[oldest] = nil }
        }
        // Compact once the forgotten prefix outgrows the window: O(1) amortised.
        if head > capacity && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    /// Removes `element`; returns whether it was there.
    @discardableResult
    public mutating func remove(_ element: Element) -> Bool {
        members.removeValue(forKey: element) != nil
    }
}
