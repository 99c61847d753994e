import ArgumentParser

/// A duration on the command line: `250ms`, `2s`, `1.5s`, `3m`, `1h`.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible, Sendable {
    var duration: Duration
    let text: String

    init(_ duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where argument.hasSuffix(suffix) {
            let number = argument.dropLast(suffix.count)
            // "ms" also ends in "s": make sure the number part is a number.
            guard let value = Double(number), value >= 0, value.isFinite else { continue }
            // Longer than Int64 nanoseconds hold (292 years) is not a duration anyone means;
            // refuse it (the option or key is named in the error) instead of trapping.
            let nanoseconds = value * scale * 1e9
            guard nanoseconds < 9.2e18 else { return nil }
            self.init(.nanoseconds(Int64(nanoseconds)), text: argument)
            return
        }
        return nil
    }

    var description: String { text }
    static var defaultCompletionKind: CompletionKind { .default }
}
