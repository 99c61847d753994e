extension Duration {
    /// Whole nanoseconds, saturating at zero for negative durations and at `UInt64.max` for
    /// durations longer than that (about 584 years): no duration can trap.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .max }
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return carry ? .max : total
    }

    /// Whole milliseconds.
    public var milliseconds: UInt64 { nanoseconds / 1_000_000 }
}

extension Duration {
    /// `self * factor`, saturating at `Int64.max` nanoseconds (292 years) instead of trapping;
    /// a negative factor or duration gives zero. For products of configured values.
    public func saturatingTimes(_ factor: Int) -> Duration {
        guard factor > 0 else { return .zero }
        let (product, overflow) = nanoseconds.multipliedReportingOverflow(by: UInt64(factor))
        return .nanoseconds(Int64(clamping: overflow ? .max : product))
    }

    /// `self + other` in whole nanoseconds, saturating like `saturatingTimes`.
    public func saturatingPlus(_ other: Duration) -> Duration {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(other.nanoseconds)
        return .nanoseconds(Int64(clamping: overflow ? .max : sum))
    }
}
