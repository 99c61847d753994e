import SluiceProtocol

/// A point on the broker's monotonic clock, in nanoseconds. The core never reads a clock:
/// every event carries the time, so tests drive time by hand.
public struct Timestamp: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = Timestamp(nanoseconds: 0)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// Saturates at the end of time: a deadline too far away to represent never comes, where a
    /// wrapped one would have come at once.
    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        return Timestamp(nanoseconds: overflow ? .max : sum)
    }

    /// `self` plus `delta` nanoseconds, saturating like `+`, without `Duration`'s 128-bit
    /// arithmetic (per DISPATCH and per completion on the hot path).
    public func adding(nanoseconds delta: UInt64) -> Timestamp {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(delta)
        return Timestamp(nanoseconds: overflow ? .max : sum)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    public func since(_ earlier: Timestamp) -> Duration {
        nanoseconds >= earlier.nanoseconds ? .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds)) : .zero
    }

    public var description: String { "t+\(Double(nanoseconds) / 1e9)s" }
}

