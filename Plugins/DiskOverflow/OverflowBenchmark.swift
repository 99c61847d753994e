import SluicePluginAPI
import SluiceProtocol

/// Throughput of `DiskOverflowStore` as the broker uses it (`sluice overflow-bench`).
public enum OverflowBenchmark {
    /// Appends `count` records of `payloadBytes` each, calling `sync()` after every 64 (and
    /// once at the end), then drains them: `readBatch` of 64, `markConsumed` each, `sync()`.
    /// Rates are records per second and payload megabytes (10^6 bytes) per second; fsync
    /// time is included as the policy dictates. `directory` should be new or empty (the
    /// store is opened there without a budget); it is left in place, holding one small
    /// segment file, for the caller to remove.
    public static func run(
        directory: String, count: Int, payloadBytes: Int, policy: FsyncPolicy, segmentBytes: Int = 64 * 1024 * 1024
    ) throws(OverflowStoreError) -> (appendPerSecond: Double, appendMBPerSecond: Double, drainPerSecond: Double, drainMBPerSecond: Double) {
        guard count > 0, payloadBytes >= 0 else {
            throw OverflowStoreError(.unusable, "benchmark needs a positive count and a non-negative payload size; got \(count) and \(payloadBytes)")
        }
        let store = try DiskOverflowStore(directory: directory, segmentBytes: segmentBytes, budgetBytes: nil, fsync: policy)
        guard store.usage.records == 0 else {
            throw OverflowStoreError(.unusable, "benchmark directory \(directory) already holds \(store.usage.records) records; use an empty one")
        }
        let header = RoutingHeader(activationID: "bench-0000000000", namespace: "guest", action: "guest/bench/hello",
                                   revision: "1-abcdef", memoryMB: 256, timeLimitMilliseconds: 60_000, answerTo: "controller-0")
        let payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let clock = ContinuousClock()

        let appendStart = clock.now
        for number in 0..<count {
            _ = try store.append(header, payload: payload, enqueuedAtMilliseconds: 1_700_000_000_000 + UInt64(number))
            if number % 64 == 63 { try store.sync() }
        }
        try store.sync()
        let appendSeconds = seconds(clock.now - appendStart)

        let drainStart = clock.now
        var drained = 0
        var after: UInt64?
        while true {
            let batch = try store.readBatch(after: after, limit: 64)
            guard let last = batch.last else { break }
            for record in batch { try store.markConsumed(record.sequence) }
            try store.sync()
            drained += batch.count
            after = last.sequence
        }
        let drainSeconds = seconds(clock.now - drainStart)
        try store.close()
        guard drained == count else {
            throw OverflowStoreError(.io, "benchmark drained \(drained) records of \(count) appended")
        }

        let megabytes = Double(count) * Double(payloadBytes) / 1_000_000
        return (Double(count) / appendSeconds, megabytes / appendSeconds, Double(count) / drainSeconds, megabytes / drainSeconds)
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return max(Double(parts.seconds) + Double(parts.attoseconds) / 1e18, 1e-9)
    }
}
