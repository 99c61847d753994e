import Prometheus

/// A Prometheus histogram of durations kept in integer nanoseconds, for the broker's latency
/// samples (several per activation).
///
/// swift-prometheus's `DurationHistogram` takes a lock and compares a `Duration` against every
/// bucket for each sample (its buckets are cumulative); at the broker's rates that was about
/// half a microsecond of the monitor thread's CPU per round trip (docs/PERFORMANCE.md). Here a
/// sample is one binary search over integer bounds and one increment, and the cumulative counts
/// are made when the exposition is written, in the same text as before.
struct LatencyHistogram {
    let name: String
    /// Upper bounds, ascending, in nanoseconds.
    private let bounds: [UInt64]
    /// Each bound as the exposition writes it (`le="0.0001"`).
    private let renderedBounds: [String]
    /// Samples per bucket, not cumulative; the last entry counts samples above every bound.
    private var counts: [UInt64]
    private var sumNanoseconds: UInt64 = 0

    init(name: String, buckets: [Duration]) {
        self.name = name
        let sorted = buckets.sorted()
        bounds = sorted.map { UInt64(clamping: $0.nanoseconds) }
        renderedBounds = sorted.map(\.bucketRepresentation)
        counts = Array(repeating: 0, count: sorted.count + 1)
    }

    var count: UInt64 { counts.reduce(0, +) }

    mutating func record(nanoseconds: UInt64) {
        // The first bound at or above the sample (a bucket counts samples <= its bound).
        var low = 0, high = bounds.count
        while low < high {
            let middle = (low + high) / 2
            if bounds[middle] < nanoseconds { low = middle + 1 } else { high = middle }
        }
        counts[low] += 1
        sumNanoseconds &+= nanoseconds
    }

    /// The family in the text exposition format: `# TYPE`, a cumulative `_bucket` line per
    /// bound and `+Inf`, `_sum` in seconds, `_count`.
    func emit(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: "# TYPE \(name) histogram\n".utf8)
        var cumulative: UInt64 = 0
        for (index, bound) in renderedBounds.enumerated() {
            cumulative += counts[index]
            buffer.append(contentsOf: "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n".utf8)
        }
        cumulative += counts[counts.count - 1]
        buffer.append(contentsOf: "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n".utf8)
        let sum = Duration.nanoseconds(Int64(clamping: sumNanoseconds))
        buffer.append(contentsOf: "\(name)_sum \(sum.bucketRepresentation)\n".utf8)
        buffer.append(contentsOf: "\(name)_count \(cumulative)\n".utf8)
    }
}
