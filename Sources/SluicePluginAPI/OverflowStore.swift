import SluiceProtocol

/// One activation that had to wait, as an overflow store keeps it.
public struct OverflowRecord: Sendable, Equatable {
    /// Assigned by the store on append; strictly increasing in append order, also across
    /// restarts.
    public var sequence: UInt64
    /// The routing header as the broker accepted it (`answerTo` filled in).
    public var header: RoutingHeader
    public var payload: [UInt8]
    /// When it started waiting, milliseconds since 1970 (wall clock: survives restarts).
    public var enqueuedAtMilliseconds: UInt64
    /// Recovery could not tell whether this record was consumed: damage found after it may
    /// have been its consume mark. The broker must not run it (it answers it instead).
    public var consumedUnknown: Bool

    public init(sequence: UInt64, header: RoutingHeader, payload: [UInt8], enqueuedAtMilliseconds: UInt64,
                consumedUnknown: Bool = false) {
        self.sequence = sequence
        self.header = header
        self.payload = payload
        self.enqueuedAtMilliseconds = enqueuedAtMilliseconds
        self.consumedUnknown = consumedUnknown
    }
}

/// How much an overflow store holds.
public struct OverflowUsage: Sendable, Equatable {
    /// Appended and not yet consumed.
    public var records: Int
    /// Bytes the store occupies (on disk for a disk store), consumed records included until
    /// their space is reclaimed.
    public var bytes: Int
    /// Bytes written since the store was opened (0 while nothing overflowed).
    public var bytesWritten: Int
    /// The byte budget; nil: unbounded.
    public var budgetBytes: Int?

    public init(records: Int, bytes: Int, bytesWritten: Int, budgetBytes: Int?) {
        self.records = records
        self.bytes = bytes
        self.bytesWritten = bytesWritten
        self.budgetBytes = budgetBytes
    }
}

/// What recovery found after a restart.
public struct OverflowRecoveryReport: Sendable, Equatable {
    /// Unconsumed records handed back, in append order.
    public var recovered: Int
    /// Records skipped because their CRC or framing was wrong.
    public var corruptRecords: Int
    /// Unconsumed records handed back with `consumedUnknown` set (written before damage that
    /// may have been their consume mark); included in `recovered`.
    public var uncertainRecords: Int
    /// Bytes cut from torn tails (a record cut short by a crash).
    public var truncatedBytes: Int
    /// Segment files read.
    public var segments: Int

    public init(recovered: Int = 0, corruptRecords: Int = 0, uncertainRecords: Int = 0, truncatedBytes: Int = 0, segments: Int = 0) {
        self.recovered = recovered
        self.corruptRecords = corruptRecords
        self.uncertainRecords = uncertainRecords
        self.truncatedBytes = truncatedBytes
        self.segments = segments
    }
}

/// An overflow store failed: a code and a message naming the problem (and the file).
public struct OverflowStoreError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The byte budget is used up: the broker answers `overloaded`.
        case budgetExceeded
        /// An I/O operation failed (errno in the message).
        case io
        /// The store is not usable (bad path, not opened, closed).
        case unusable
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "overflow store \(code.rawValue): \(message)" }
}

/// Where waiting activations are kept so they survive a broker restart (docs/ARCHITECTURE.md,
/// "Overflow").
///
/// Contract (checked by `SluiceTestKit.OverflowStoreConformance` for every store):
/// - Only the broker's loop thread calls a store, one call at a time.
/// - `append` is called only for activations that must wait: a store that is never appended
///   to writes nothing (`usage.bytesWritten == 0`).
/// - `markConsumed` records that an activation left the store (dispatched, expired or
///   answered). After `sync()` returns, a consumed record is never recovered again: the
///   broker calls `sync()` after marking and before it dispatches, which is what makes
///   delivery at-most-once across restarts.
/// - `readBatch` after a restart returns every record appended and not consumed, in append
///   order, skipping damaged ones (counted in the report); it never crashes on a damaged
///   file. When damage means it cannot tell whether a record was consumed, it returns the
///   record with `consumedUnknown` set: at-most-once wins, the broker answers it and never
///   runs it (docs/ARCHITECTURE.md, "Overflow").
/// - Every field of the routing header, the payload and the enqueue time round-trip exactly.
/// - Errors other than `budgetExceeded` mean the store can no longer be trusted: the broker
///   stops using it for the rest of the run (see `OverflowJournal`).
/// - Space of consumed records is reclaimed eventually (a disk store deletes whole segments).
public protocol OverflowStore: AnyObject {
    /// The name used in configuration (`overflow.store: disk`).
    var name: String { get }

    /// Keeps one waiting activation; returns its sequence number. Throws `budgetExceeded`
    /// when it would not fit.
    func append(_ header: RoutingHeader, payload: [UInt8], enqueuedAtMilliseconds: UInt64) throws(OverflowStoreError) -> UInt64

    /// Records that `sequence` left the store (durable after the next `sync`).
    func markConsumed(_ sequence: UInt64) throws(OverflowStoreError)

    /// Makes every append and mark so far durable as the store's policy promises, and at least
    /// visible to a restarted process (written, not only buffered).
    func sync() throws(OverflowStoreError)

    /// Reads what a previous run left: unconsumed records in append order, at most `limit`
    /// starting after `sequence` (nil: from the start). Call `recoveryReport` after.
    func readBatch(after sequence: UInt64?, limit: Int) throws(OverflowStoreError) -> [OverflowRecord]

    /// What opening and reading the store found (damaged records, torn tails).
    var recoveryReport: OverflowRecoveryReport { get }

    var usage: OverflowUsage { get }

    /// The broker stopped trusting the store (an operation failed): drop whatever is buffered
    /// and write nothing more, not even when closing. The default does nothing.
    func abandon()
}

extension OverflowStore {
    public func abandon() {}
}

/// The default store: keeps nothing beyond the broker's in-memory queue, so a restart loses
/// waiting work (it is never run twice either).
public final class MemoryOverflowStore: OverflowStore {
    public let name = "memory"
    private var next: UInt64 = 1
    private var live: [UInt64: OverflowRecord] = [:]
    private var written = 0

    public init() {}

    public func append(_ header: RoutingHeader, payload: [UInt8], enqueuedAtMilliseconds: UInt64) throws(OverflowStoreError) -> UInt64 {
        let sequence = next
        next += 1
        live[sequence] = OverflowRecord(sequence: sequence, header: header, payload: payload, enqueuedAtMilliseconds: enqueuedAtMilliseconds)
        return sequence
    }

    public func markConsumed(_ sequence: UInt64) throws(OverflowStoreError) {
        live.removeValue(forKey: sequence)
    }

    public func sync() throws(OverflowStoreError) {}

    public func readBatch(after sequence: UInt64?, limit: Int) throws(OverflowStoreError) -> [OverflowRecord] {
        Array(live.values.filter { $0.sequence > (sequence ?? 0) }.sorted { $0.sequence < $1.sequence }.prefix(limit))
    }

    public var recoveryReport: OverflowRecoveryReport { OverflowRecoveryReport(recovered: 0) }

    public var usage: OverflowUsage { OverflowUsage(records: live.count, bytes: 0, bytesWritten: written, budgetBytes: nil) }
}
