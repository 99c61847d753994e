/// The ZeroMQ routing id of a peer's connection: which connection, not which peer. A peer
/// keeps its logical id (controller id, invoker id) across reconnects; its routing id changes.
///
/// Kept in place up to 16 bytes (the ids a ROUTER makes up are 5; a peer may set its own, up
/// to 255), so the broker allocates nothing for the routing id of each message it receives and
/// copies one without reference counting. Longer ids are kept in an array. Each length has one
/// representation, so equality and hashing compare representations.
public struct RoutingID: Hashable, Sendable, CustomStringConvertible {
    public static let inlineCapacity = 16

    // Inlinable (with these internal), so the shell's per-message calls are specialized.
    @usableFromInline var words: (UInt64, UInt64) = (0, 0)
    /// The byte count of an id kept in place; 0 for one kept in `spilled`.
    @usableFromInline var count: UInt8 = 0
    @usableFromInline var spilled: [UInt8]?

    public init(_ bytes: [UInt8]) {
        if bytes.count > Self.inlineCapacity {
            spilled = bytes
        } else {
            bytes.withUnsafeBytes { store($0) }
        }
    }

    /// A copy of `buffer`'s bytes (for example a received routing-id frame, without an array).
    @inlinable
    public init(_ buffer: UnsafeRawBufferPointer) {
        if buffer.count > Self.inlineCapacity {
            spilled = Array(buffer)
        } else {
            store(buffer)
        }
    }

    @inlinable
    mutating func store(_ buffer: UnsafeRawBufferPointer) {
        count = UInt8(buffer.count)
        Swift.withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: buffer) }
    }

    /// The id's bytes, for the duration of `body`.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        if let spilled {
            // `Array.withUnsafeBytes` rethrows untyped errors: carry the typed one out.
            return try spilled.withUnsafeBytes { buffer -> Result<R, E> in
                do throws(E) { return .success(try body(buffer)) } catch { return .failure(error) }
            }.get()
        }
        var words = words
        let count = Int(count)
        return try Swift.withUnsafeBytes(of: &words) { (buffer) throws(E) -> R in
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// The id's bytes as an array (allocates: for tests, tools and logs).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public static func == (lhs: RoutingID, rhs: RoutingID) -> Bool {
        lhs.count == rhs.count && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.spilled == rhs.spilled
    }

    public func hash(into hasher: inout Hasher) {
        if let spilled {
            spilled.withUnsafeBytes { hasher.combine(bytes: $0) }
        } else {
            hasher.combine(words.0)
            hasher.combine(words.1)
            hasher.combine(count)
        }
    }

    public var description: String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
