/// The ZeroMQ routing id of a peer's connection: which connection, not which peer. A peer
/// keeps its logical id (controller id, invoker id) across reconnects; its routing id changes.
public struct RoutingID: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public static func == (lhs: RoutingID, rhs: RoutingID) -> Bool { lhs.bytes == rhs.bytes }

    /// The bytes in one call: `[UInt8]`'s own hashing combines them one at a time, and the
    /// core looks a route up for every message it receives.
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public var description: String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
