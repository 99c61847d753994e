/// A hashed timing wheel for per-activation deadlines: O(1) schedule, O(1) cancel, and
/// advancing costs the entries that are due plus the buckets passed.
///
/// Deadlines further out than one revolution stay in their bucket until their round comes.
public struct DeadlineWheel<Key: Hashable> {
    private var buckets: [[Key: UInt64]]
    private let granularity: UInt64
    /// The last tick whose bucket has been processed.
    private var processedTick: UInt64
    public private(set) var count = 0

    /// - Parameters:
    ///   - granularity: width of one bucket (deadlines fire up to this late).
    ///   - buckets: number of buckets in one revolution.
    public init(granularity: Duration = .milliseconds(50), buckets: Int = 4096, start: Timestamp = .zero) {
        self.granularity = max(granularity.nanoseconds, 1)
        self.buckets = Array(repeating: [:], count: max(buckets, 1))
        processedTick = start.nanoseconds / self.granularity
    }

    private func bucket(for deadline: UInt64) -> Int {
        Int((deadline / granularity) % UInt64(buckets.count))
    }

    public mutating func schedule(_ key: Key, at deadline: Timestamp) {
        // A deadline in an already processed tick goes into the next bucket to be processed.
        let due = max(deadline.nanoseconds, (processedTick + 1) * granularity)
        if buckets[bucket(for: due)].updateValue(deadline.nanoseconds, forKey: key) == nil { count += 1 }
    }

    public mutating func cancel(_ key: Key, deadline: Timestamp) {
        let due = max(deadline.nanoseconds, (processedTick + 1) * granularity)
        if buckets[bucket(for: due)].removeValue(forKey: key) != nil {
            count -= 1
        } else if let index = buckets.firstIndex(where: { $0[key] != nil }) {
            // Scheduled while an earlier tick was current: look it up the slow way (rare).
            buckets[index].removeValue(forKey: key)
            count -= 1
        }
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
            }
            tick += 1
        }
        processedTick = nowTick
    }
}
