/// The timing wheel of in-flight deadlines, keyed by the in-flight table's handles: small,
/// dense integers that are reused. Same behaviour as `DeadlineWheel` (O(1) schedule and cancel;
/// advancing costs the entries that are due plus the buckets passed; the current tick's bucket
/// is visited again), but with no hashing and no allocation per entry.
///
/// Each bucket is a doubly linked list threaded through arrays indexed by handle, kept in
/// schedule order, so entries of one tick expire in the order they were scheduled.
/// `DeadlineWheel` kept a dictionary per bucket: two hashes per activation (schedule and cancel),
/// and a dictionary grown from empty for each new tick's bucket (docs/PERFORMANCE.md).
struct HandleWheel {
    private static let none: Int32 = -1

    /// First and last handle of each bucket's list, `none` when empty.
    private var heads: [Int32]
    private var tails: [Int32]
    /// Per handle: its neighbours in its bucket's list, its bucket (`none`: not scheduled) and
    /// its deadline in nanoseconds.
    private var next: [Int32] = []
    private var previous: [Int32] = []
    private var bucketOf: [Int32] = []
    private var deadlineOf: [UInt64] = []

    private let granularity: UInt64
    /// Every tick up to and including this one has been fully processed.
    private var processedTick: UInt64
    private(set) var count = 0

    /// Per-handle storage above this many handles is given back when the wheel empties (after
    /// a burst), as the in-flight table gives back its own.
    private static let keptHandles = 4096

    init(granularity: Duration = .milliseconds(50), buckets: Int = 4096, start: Timestamp = .zero) {
        self.granularity = max(granularity.nanoseconds, 1)
        heads = Array(repeating: Self.none, count: max(buckets, 1))
        tails = heads
        let startTick = start.nanoseconds / self.granularity
        processedTick = startTick > 0 ? startTick - 1 : 0
    }

    /// The bucket an entry with this deadline lives in: its own tick's, or the first tick not
    /// yet fully processed if the deadline is already past.
    private func bucket(for deadline: UInt64) -> Int {
        let tick = max(deadline / granularity, processedTick + 1)
        return Int(tick % UInt64(heads.count))
    }

    /// Schedules `handle` (non-negative); an entry it already has is replaced.
    mutating func schedule(_ handle: Int32, at deadline: Timestamp) {
        precondition(handle >= 0, "handles are non-negative")
        let slot = Int(handle)
        if slot >= bucketOf.count { grow(toInclude: slot) }
        if bucketOf[slot] != Self.none { unlink(slot) }
        let index = bucket(for: deadline.nanoseconds)
        deadlineOf[slot] = deadline.nanoseconds
        bucketOf[slot] = Int32(index)
        next[slot] = Self.none
        previous[slot] = tails[index]
        if tails[index] == Self.none { heads[index] = handle } else { next[Int(tails[index])] = handle }
        tails[index] = handle
        count += 1
    }

    /// Removes `handle`'s entry, if it has one (its bucket is known, unlike in `DeadlineWheel`,
    /// so the deadline is not needed).
    mutating func cancel(_ handle: Int32) {
        let slot = Int(handle)
        guard slot >= 0, slot < bucketOf.count, bucketOf[slot] != Self.none else { return }
        unlink(slot)
        releaseIfEmpty()
    }

    /// Removes and appends to `expired`, in schedule order per tick, every handle whose
    /// deadline is at or before `now`.
    mutating func advance(to now: Timestamp, into expired: inout [Int32]) {
        let nowTick = now.nanoseconds / granularity
        guard nowTick > processedTick else { return }
        let steps = min(nowTick - processedTick, UInt64(heads.count))
        var tick = nowTick - steps + 1
        while tick <= nowTick {
            var handle = heads[Int(tick % UInt64(heads.count))]
            while handle != Self.none {
                let slot = Int(handle)
                let following = next[slot]
                // Entries a revolution or more out stay for their round.
                if deadlineOf[slot] <= now.nanoseconds {
                    unlink(slot)
                    expired.append(handle)
                }
                handle = following
            }
            tick += 1
        }
        // The current tick is only partly over: visit its bucket again next time.
        processedTick = nowTick - 1
        releaseIfEmpty()
    }

    private mutating func unlink(_ slot: Int) {
        let index = Int(bucketOf[slot])
        let before = previous[slot], after = next[slot]
        if before == Self.none { heads[index] = after } else { next[Int(before)] = after }
        if after == Self.none { tails[index] = before } else { previous[Int(after)] = before }
        bucketOf[slot] = Self.none
        count -= 1
    }

    private mutating func grow(toInclude slot: Int) {
        let size = max(slot + 1, bucketOf.count * 2, 64)
        let added = size - bucketOf.count
        next.append(contentsOf: repeatElement(Self.none, count: added))
        previous.append(contentsOf: repeatElement(Self.none, count: added))
        bucketOf.append(contentsOf: repeatElement(Self.none, count: added))
        deadlineOf.append(contentsOf: repeatElement(0, count: added))
    }

    private mutating func releaseIfEmpty() {
        guard count == 0, bucketOf.count > Self.keptHandles else { return }
        next = []
        previous = []
        bucketOf = []
        deadlineOf = []
    }
}
