import CZeroMQ

/// One ZeroMQ message frame (`zmq_msg_t`), owned by this object.
///
/// Receiving fills a message without copying; sending hands the bytes to libzmq without
/// copying and leaves this message empty (libzmq moves the content). So a frame received on
/// one socket can be forwarded on another at no copy cost. Not `Sendable`: a message belongs
/// to the thread that owns the socket it came from.
public final class ZMQMessage {
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// An empty message, ready to receive into.
    public init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    /// A message holding a copy of `bytes` (use for small frames you build yourself).
    public convenience init(bytes: some Collection<UInt8>) {
        self.init(count: bytes.count)
        let buffer = UnsafeMutableRawBufferPointer(start: zmq_msg_data(pointer), count: bytes.count)
        buffer.copyBytes(from: bytes)
    }

    /// A message of `count` uninitialised bytes, to be filled through `withUnsafeMutableBytes`.
    public init(count: Int) {
        pointer = .allocate(capacity: 1)
        // Fails only when libzmq cannot allocate the buffer (ENOMEM); like any Swift
        // allocation failure, that stops the process rather than leave a broken message.
        let result = zmq_msg_init_size(pointer, count)
        precondition(result == 0, "zmq_msg_init_size(\(count)) failed: \(String(cString: zmq_strerror(zmq_errno())))")
    }

    /// Another message sharing this one's content (`zmq_msg_copy`): libzmq counts references
    /// instead of copying large frames. Sending the copy leaves this message intact, so one
    /// frame can go to many peers.
    public func sharedCopy() -> ZMQMessage {
        let copy = ZMQMessage()
        zmq_msg_copy(copy.pointer, pointer)
        return copy
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// Number of bytes in the frame.
    public var count: Int { zmq_msg_size(pointer) }

    /// The frame's bytes, valid while this message is alive and neither received into, sent
    /// nor closed (libzmq keeps a message's data in place until then).
    public var unsafeBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: count) }

    /// Whether more frames of the same multipart message follow this one (after a receive).
    public var hasMore: Bool { zmq_msg_more(pointer) != 0 }

    /// Reads the frame's bytes in place. The buffer is valid only inside `body`.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: count))
    }

    /// Writes the frame's bytes in place (for messages made with `init(count:)`).
    public func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeMutableRawBufferPointer(start: zmq_msg_data(pointer), count: count))
    }

    /// A copy of the bytes as an array (for tests and small frames).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The `User-Id` property a ZAP handler attached to the peer, if any.
    public var userID: String? {
        guard let value = zmq_msg_gets(pointer, "User-Id") else { return nil }
        return String(cString: value)
    }
}
