import SluicePluginAPI

/// When `DiskOverflowStore.sync()` calls fsync(2). Every policy writes all buffered bytes
/// with write(2) on each `sync()`, so a crashed or killed *process* loses nothing `sync()`
/// returned for; the policies differ in what survives an *OS* crash or power loss:
///
/// - `everyBatch`: fsync on every `sync()` (segment files, and the directory after a segment
///   was created or deleted). An OS crash loses nothing `sync()` returned for.
/// - `interval(milliseconds:)`: fsync at the first `sync()` at least that long after the
///   previous fsync (and on `close()`). An OS crash can lose the syncs of the last interval,
///   including CONSUME records, so an activation might run twice after an OS crash.
/// - `never`: the kernel writes back when it likes (about 30 s on Linux). An OS crash can
///   lose anything not yet written back, and leaves torn or zero-filled tails that recovery
///   cuts off.
public enum FsyncPolicy: Sendable, Equatable, CustomStringConvertible {
    case everyBatch
    case interval(milliseconds: Int)
    case never

    /// The longest interval `parse` accepts: one day.
    public static let maxIntervalMilliseconds = 86_400_000

    /// Parses `every-batch`, `never`, or an interval: `interval:50ms`, `50ms`,
    /// `interval:2s`, `2s`, or `interval:50` (milliseconds). Case and surrounding spaces are
    /// ignored.
    public static func parse(_ text: String) throws(OverflowStoreError) -> FsyncPolicy {
        let trimmed = text.trimmingSpaces.lowercased()
        switch trimmed {
        case "every-batch", "everybatch", "every_batch":
            return .everyBatch
        case "never":
            return .never
        default:
            break
        }
        var rest = Substring(trimmed)
        let prefixed = rest.hasPrefix("interval:")
        if prefixed { rest = rest.dropFirst("interval:".count) }
        var scale = 1
        if rest.hasSuffix("ms") {
            rest = rest.dropLast(2)
        } else if rest.hasSuffix("s") {
            rest = rest.dropLast(1)
            scale = 1000
        } else if !prefixed {
            throw invalid(text)
        }
        guard !rest.isEmpty, rest.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              rest.count <= 9, let value = Int(rest), value * scale <= maxIntervalMilliseconds
        else {
            throw invalid(text)
        }
        return .interval(milliseconds: value * scale)
    }

    static func invalid(_ text: String) -> OverflowStoreError {
        OverflowStoreError(.unusable, "fsync policy '\(text)' is not valid; expected every-batch, never, or an interval such as interval:50ms, 50ms or 2s (at most one day)")
    }

    /// The form `parse` reads back: `every-batch`, `never`, `interval:50ms`.
    public var description: String {
        switch self {
        case .everyBatch: "every-batch"
        case .never: "never"
        case .interval(let milliseconds): "interval:\(milliseconds)ms"
        }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
