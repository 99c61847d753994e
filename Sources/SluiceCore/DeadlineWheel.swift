/// A hashed timing wheel for per-activation deadlines: O(1) schedule, O(1) cancel, and
/// advancing costs the entries that are due plus the buckets passed.
///
/// Deadlines further out than one revolution stay in their bucket until their round comes.
/// The bucket of the current, partly elapsed tick is never marked done, so a deadline later
/// in that same tick fires on the next advance, not a revolution later.
public struct DeadlineWheel<Key: Hashable> {
    private var buckets: [[Key: UInt64]]
    private let granularity: UInt64
    /// Every tick up to and including this one has been fully processed.
    private var processedTick: UInt64
    public private(set) var count = 0

    /// - Parameters:
    ///   - granularity: width of one bucket.
    ///   - buckets: number of buckets in one revolution.
    public init(granularity: Duration = .milliseconds(50), buckets: Int = 4096, start: Timestamp = .zero) {
        self.granularity = max(granularity.nanoseconds, 1)
        self.buckets = Array(repeating: [:], count: max(buckets, 1))
        let startTick = start.nanoseconds / self.granularity
        processedTick = startTick > 0 ? startTick - 1 : 0
    }

    /// The bucket an entry with this deadline lives in: its own tick's, or the first tick not
    /// yet fully processed if the deadline is already past.
    private func bucket(for deadline: UInt64) -> Int {
        let tick = max(deadline / granularity, processedTick + 1)
        return Int(tick % UInt64(buckets.count))
    }

    public mutating func schedule(_ key: Key, at deadline: Timestamp) {
        if buckets[bucket(for: deadline.nanoseconds)].updateValue(deadline.nanoseconds, forKey: key) == nil { count += 1 }
    }

    /// Removes a scheduled entry. `deadline` must be the one it was scheduled with.
    public mutating func cancel(_ key: Key, deadline: Timestamp) {
        let index = bucket(for: deadline.nanoseconds)
        if buckets[index].removeValue(forKey: key) != nil { count -= 1 }
        release(index)
    }

    /// A dictionary keeps its storage when emptied; over one revolution every bucket would
    /// hold storage for its busiest moment. Empty buckets give it back.
    private mutating func release(_ index: Int) {
        if buckets[index].isEmpty && buckets[index].capacity > 16 { buckets[index] = [:] }
    }

    /// Removes and returns every key whose deadline is at or before `now`.
    public mutating func advance(to now: Timestamp, into expired: inout [Key]) {
        let nowTick = now.nanoseconds / granularity
        guard nowTick > processedTick else { return }
        let steps = min(nowTick - processedTick, UInt64(buckets.count))
        var tick = nowTick - steps + 1
        while tick <= nowTick {
            let index = Int(tick % UInt64(buckets.count))
            if !buckets[index].isEmpty {
                for (key, deadline) in buckets[index] where deadline <= now.nanoseconds {
                    buckets[index].removeValue(forKey: key)
                    expired.append(key)
                    count -= 1
                }
                release(index)
            }
            tick += 1
        }
        // The current tick is only partly over: visit its bucket again next time.
        processedTick = nowTick - 1
    }
}
