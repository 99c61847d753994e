import CZeroMQ
import Glibc

/// Waits on many sockets at a cost that grows with the sockets that are ready, not with the
/// sockets watched: epoll over each socket's `ZMQ_FD`.
///
/// `zmq_poll` walks every item on every call, which dominates a loop over a thousand sockets.
/// The price is ZeroMQ's notification rule: a socket's descriptor only says "something may
/// have changed", and only once a receive has found the socket empty. So:
/// - before the first `wait`, receive on every socket until nothing is left;
/// - after a wake-up, receive until nothing is left and then check `isReadable`;
/// - after sending on a socket, check `isReadable` too, because a send can consume the
///   signal of a message that arrived meanwhile.
///
/// Not `Sendable`: one thread owns it.
public final class ZMQEpoll {
    private let descriptor: Int32
    private var tokens = [UInt64](repeating: 0, count: 256)

    public init() throws(ZMQError) {
        descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        if descriptor < 0 { throw ZMQError.last("epoll_create1") }
    }

    deinit { close(descriptor) }

    /// Watches `socket`; `wait` reports it as `token`.
    public func add(_ socket: ZMQSocket, token: Int) throws(ZMQError) {
        let fd = try socket.fileDescriptor
        if sluice_epoll_add(descriptor, fd, UInt64(token)) != 0 { throw ZMQError.last("epoll_ctl(ADD)") }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and appends the tokens of the sockets
    /// that may have events to `ready` (at most 256 per call). A signal interruption returns
    /// with nothing appended.
    public func wait(timeoutMilliseconds: Int32, into ready: inout [Int]) throws(ZMQError) {
        let count = tokens.withUnsafeMutableBufferPointer { sluice_epoll_wait(descriptor, $0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        if count < 0 {
            let error = ZMQError.last("epoll_wait")
            if error.interrupted { return }
            throw error
        }
        for index in 0..<Int(count) { ready.append(Int(tokens[index])) }
    }
}
