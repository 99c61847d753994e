import CZeroMQ

/// Waits until sockets or plain file descriptors become readable (`zmq_poll`).
///
/// The draft `zmq_poller_*` API is not exported by Debian's libzmq 4.3.4, so this wraps
/// `zmq_poll`. Build one per loop and reuse it: it keeps its item array between calls.
/// Not `Sendable`: it refers to sockets owned by one thread.
public struct ZMQPoller: ~Copyable {
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Registers a socket for readability; returns its index in `poll`'s result.
    public mutating func add(_ socket: ZMQSocket) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    /// Registers a file descriptor (an eventfd used to wake the loop, say) for readability.
    public mutating func add(fileDescriptor: Int32) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever, 0: do not wait) and returns how many
    /// items are ready. A signal interruption returns 0.
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        let count = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        if count < 0 {
            let error = ZMQError.last("zmq_poll")
            if error.interrupted { return 0 }
            throw error
        }
        return Int(count)
    }

    /// Whether item `index` was readable after the last `poll`.
    public func isReadable(_ index: Int) -> Bool {
        items[index].revents & Int16(ZMQ_POLLIN) != 0
    }
}
