extension Duration {
    /// Whole nanoseconds, saturating at zero for negative durations.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Whole milliseconds.
    public var milliseconds: UInt64 { nanoseconds / 1_000_000 }
}
