import CZeroMQ

/// The socket types Sluice uses.
public enum ZMQSocketType: Sendable {
    case router, dealer, pair, pub, sub, push, pull, req, rep

    var raw: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        }
    }
}

/// Flags for one send or receive call.
public struct ZMQFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// Fail with `EAGAIN` instead of blocking.
    public static let dontWait = ZMQFlags(rawValue: ZMQ_DONTWAIT)
    /// More frames of the same message follow.
    public static let sendMore = ZMQFlags(rawValue: ZMQ_SNDMORE)
}

/// A ZeroMQ socket with exactly one owner.
///
/// Not `Sendable`: a socket must only be used by the thread that owns it (libzmq sockets are
/// not thread-safe). Closed in `deinit`; the default linger is set to 0 at creation so that
/// closing never blocks the context's termination. Set `linger` explicitly where unsent
/// messages matter (a broker flushing answers on shutdown).
public final class ZMQSocket {
    let handle: UnsafeMutableRawPointer
    /// Keeps the context alive while the socket exists.
    private let context: ZMQContext
    public let type: ZMQSocketType
    /// A buffer for whoever sends on this socket to encode a frame into and reuse for the next
    /// (a socket is used by one thread at a time, so it needs no lock): a send then costs no
    /// allocation for its header frame. `zmq_send` copies the bytes before returning.
    public var encodeBuffer: [UInt8] = []

    public init(_ context: ZMQContext, type: ZMQSocketType) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.raw) else {
            throw ZMQError.last("zmq_socket")
        }
        self.handle = handle
        self.context = context
        self.type = type
        var zero: Int32 = 0
        zmq_setsockopt(handle, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
    }

    deinit {
        zmq_close(handle)
    }

    // MARK: Endpoints

    /// Binds to `endpoint` (`tcp://127.0.0.1:*` picks a free port; read it back with
    /// `lastEndpoint`).
    public func bind(_ endpoint: String) throws(ZMQError) {
        if zmq_bind(handle, endpoint) != 0 { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    /// Connects to `endpoint`. libzmq connects in the background and reconnects on its own.
    public func connect(_ endpoint: String) throws(ZMQError) {
        if zmq_connect(handle, endpoint) != 0 { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    public func disconnect(_ endpoint: String) throws(ZMQError) {
        if zmq_disconnect(handle, endpoint) != 0 { throw ZMQError.last("zmq_disconnect(\(endpoint))") }
    }

    /// The endpoint of the last bind, with the port resolved.
    public var lastEndpoint: String {
        get throws(ZMQError) {
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            if zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) != 0 {
                throw ZMQError.last("zmq_getsockopt(ZMQ_LAST_ENDPOINT)")
            }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    // MARK: Sending

    /// Sends one frame, moving the message's content to libzmq (the message is empty after a
    /// successful send; after a failed one it still holds its bytes).
    public func send(_ message: ZMQMessage, flags: ZMQFlags = []) throws(ZMQError) {
        while zmq_msg_send(message.pointer, handle, flags.rawValue) < 0 {
            let error = ZMQError.last("zmq_msg_send")
            if error.interrupted { continue }
            throw error
        }
    }

    /// Sends one frame copied from `bytes`.
    public func send(bytes: some Collection<UInt8>, flags: ZMQFlags = []) throws(ZMQError) {
        try send(ZMQMessage(bytes: bytes), flags: flags)
    }

    /// Sends one frame copied from `buffer` with `zmq_send`: no Swift allocation (libzmq keeps
    /// frames up to 33 bytes inline, without allocating either). For small frames on hot paths.
    public func send(buffer: UnsafeRawBufferPointer, flags: ZMQFlags = []) throws(ZMQError) {
        while zmq_send(handle, buffer.baseAddress, buffer.count, flags.rawValue) < 0 {
            let error = ZMQError.last("zmq_send")
            if error.interrupted { continue }
            throw error
        }
    }

    /// Sends one frame copied from `bytes` with `zmq_send` (see `send(buffer:flags:)`).
    @inlinable
    public func send(frame bytes: [UInt8], flags: ZMQFlags = []) throws(ZMQError) {
        let result: Result<Void, ZMQError> = bytes.withUnsafeBytes { buffer in
            do throws(ZMQError) {
                try send(buffer: buffer, flags: flags)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Sends a multipart message. Frames are moved, not copied.
    ///
    /// On a ROUTER with `routerMandatory`, an unknown or full peer fails on the first frame
    /// (the routing id) with `EHOSTUNREACH` or `EAGAIN`, so nothing partial goes out and the
    /// messages keep their content for a retry.
    public func send(multipart frames: [ZMQMessage], flags: ZMQFlags = []) throws(ZMQError) {
        // A ZeroMQ message has at least one frame; sending none would silently send nothing.
        guard !frames.isEmpty else { throw ZMQError(errno: EINVAL, operation: "send(multipart:) with no frames") }
        for (index, frame) in frames.enumerated() {
            let more: ZMQFlags = index < frames.count - 1 ? .sendMore : []
            try send(frame, flags: flags.union(more))
        }
    }

    // MARK: Receiving

    /// Receives one frame into `message`. Returns false if `.dontWait` was given and nothing
    /// was waiting.
    @discardableResult
    public func receive(into message: ZMQMessage, flags: ZMQFlags = []) throws(ZMQError) -> Bool {
        while zmq_msg_recv(message.pointer, handle, flags.rawValue) < 0 {
            let error = ZMQError.last("zmq_msg_recv")
            if error.interrupted { continue }
            if error.wouldBlock && flags.contains(.dontWait) { return false }
            throw error
        }
        return true
    }

    /// Receives every frame of the next multipart message, or nil if `.dontWait` was given and
    /// nothing was waiting. Frames are received in place: no copies.
    public func receiveMultipart(flags: ZMQFlags = []) throws(ZMQError) -> [ZMQMessage]? {
        var frames: [ZMQMessage] = []
        let first = ZMQMessage()
        guard try receive(into: first, flags: flags) else { return nil }
        frames.append(first)
        var more = first.hasMore
        while more {
            // The remaining frames of a multipart message are already here: never blocks long.
            let next = ZMQMessage()
            try receive(into: next)
            more = next.hasMore
            frames.append(next)
        }
        return frames
    }

    /// Receives the next multipart message into `frames`, reusing the messages already there
    /// (and appending more when it has more frames). Returns how many frames it has, or nil if
    /// `.dontWait` was given and nothing was waiting. A caller that keeps one of the frames
    /// must put a new `ZMQMessage` in its place before the next call.
    public func receiveMultipart(into frames: inout [ZMQMessage], flags: ZMQFlags = []) throws(ZMQError) -> Int? {
        if frames.isEmpty { frames.append(ZMQMessage()) }
        guard try receive(into: frames[0], flags: flags) else { return nil }
        var count = 1
        var more = frames[0].hasMore
        while more {
            if count == frames.count { frames.append(ZMQMessage()) }
            try receive(into: frames[count])
            more = frames[count].hasMore
            count += 1
        }
        return count
    }

    // MARK: Readiness

    /// Whether a receive would succeed now (`ZMQ_EVENTS` has `POLLIN`).
    public var isReadable: Bool {
        (try? intOption(ZMQ_EVENTS, name: "ZMQ_EVENTS")).map { $0 & Int32(ZMQ_POLLIN) != 0 } ?? false
    }
}
