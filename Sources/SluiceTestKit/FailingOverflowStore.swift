import SluicePluginAPI
import SluiceProtocol
import Synchronization

/// An overflow store that fails on demand, for testing what a broker does when its store
/// breaks: it keeps records in memory (through `MemoryOverflowStore`) and throws an `io` error
/// from the operations a test switches to failing. Records returned by `readBatch` can be
/// marked as recovered with `consumedUnknown`, as a damaged disk store returns them.
///
/// The switches live in a `Faults` object that a test keeps and flips from any thread while
/// the broker's loop thread uses the store.
public final class FailingOverflowStore: OverflowStore {
    /// What fails, and what is counted; shared between the test and the store.
    public final class Faults: Sendable {
        private let state = Mutex(State())

        struct State {
            var failAppend = false
            var failMarkConsumed = false
            var failSync = false
            var syncs = 0
            var marks = 0
            var appends = 0
            var abandoned = false
        }

        public init() {}

        public var failAppend: Bool {
            get { state.withLock { $0.failAppend } }
            set { state.withLock { $0.failAppend = newValue } }
        }

        public var failMarkConsumed: Bool {
            get { state.withLock { $0.failMarkConsumed } }
            set { state.withLock { $0.failMarkConsumed = newValue } }
        }

        public var failSync: Bool {
            get { state.withLock { $0.failSync } }
            set { state.withLock { $0.failSync = newValue } }
        }

        /// Successful `sync()` calls that had something to make durable (appends or marks).
        public var syncs: Int { state.withLock { $0.syncs } }
        /// Successful `markConsumed` calls for a live record.
        public var marks: Int { state.withLock { $0.marks } }
        /// Successful appends.
        public var appends: Int { state.withLock { $0.appends } }
        /// Whether the broker abandoned the store (it stopped trusting it).
        public var abandoned: Bool { state.withLock { $0.abandoned } }
        func noteAbandon() { state.withLock { $0.abandoned = true } }

        func noteAppend() { state.withLock { $0.appends += 1 } }
        func noteMark() { state.withLock { $0.marks += 1 } }
        func noteSync() { state.withLock { $0.syncs += 1 } }
    }

    public let name = "failing"
    public let faults: Faults
    private let inner = MemoryOverflowStore()
    private var dirty = false
    private var uncertain: Set<UInt64> = []

    /// - Parameters:
    ///   - faults: the switches (keep a reference to flip them).
    ///   - records: records a "previous run" left, as `readBatch` will return them; those
    ///     whose position is in `uncertain` come back with `consumedUnknown` set.
    ///   - enqueuedAtMilliseconds: when those records started waiting (wall clock); pass the
    ///     current time unless the test wants them to have waited long already.
    public init(faults: Faults = Faults(), records: [(RoutingHeader, [UInt8])] = [], uncertain: Set<Int> = [],
                enqueuedAtMilliseconds: UInt64 = 0) {
        self.faults = faults
        for (position, record) in records.enumerated() {
            let sequence = (try? inner.append(record.0, payload: record.1, enqueuedAtMilliseconds: enqueuedAtMilliseconds)) ?? 0
            if uncertain.contains(position) { self.uncertain.insert(sequence) }
        }
    }

    public func append(_ header: RoutingHeader, payload: [UInt8], enqueuedAtMilliseconds: UInt64) throws(OverflowStoreError) -> UInt64 {
        if faults.failAppend { throw OverflowStoreError(.io, "append failed on demand (FailingOverflowStore)") }
        let sequence = try inner.append(header, payload: payload, enqueuedAtMilliseconds: enqueuedAtMilliseconds)
        dirty = true
        faults.noteAppend()
        return sequence
    }

    public func markConsumed(_ sequence: UInt64) throws(OverflowStoreError) {
        if faults.failMarkConsumed { throw OverflowStoreError(.io, "marking \(sequence) consumed failed on demand (FailingOverflowStore)") }
        let live = inner.usage.records
        try inner.markConsumed(sequence)
        if inner.usage.records < live {
            dirty = true
            faults.noteMark()
        }
    }

    public func sync() throws(OverflowStoreError) {
        if faults.failSync { throw OverflowStoreError(.io, "fsync failed on demand (FailingOverflowStore)") }
        if dirty { faults.noteSync() }
        dirty = false
    }

    public func readBatch(after sequence: UInt64?, limit: Int) throws(OverflowStoreError) -> [OverflowRecord] {
        try inner.readBatch(after: sequence, limit: limit).map { record in
            var record = record
            record.consumedUnknown = uncertain.contains(record.sequence)
            return record
        }
    }

    public var recoveryReport: OverflowRecoveryReport { inner.recoveryReport }

    public func abandon() { faults.noteAbandon() }

    public var usage: OverflowUsage { inner.usage }

    /// Sequences of the records still live (not consumed), for assertions.
    public var liveSequences: [UInt64] {
        ((try? inner.readBatch(after: nil, limit: .max)) ?? []).map(\.sequence)
    }
}
