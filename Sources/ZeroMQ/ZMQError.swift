import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the operation, the errno it left and libzmq's own text for it.
///
/// `ZMQError` is a struct with a code rather than an enum, so new cases never break callers.
public struct ZMQError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The `errno` value libzmq reported (`EAGAIN`, `EHOSTUNREACH`, ...).
    public let errno: Int32
    /// What was being attempted, e.g. `"zmq_bind(tcp://127.0.0.1:5671)"`.
    public let operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// Captures the calling thread's current `zmq_errno()`.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        ZMQError(errno: zmq_errno(), operation: operation())
    }

    /// libzmq's description of `errno` (`zmq_strerror`).
    public var message: String { String(cString: zmq_strerror(errno)) }

    /// True when the call would have blocked (`EAGAIN`): a full pipe or an empty queue.
    public var wouldBlock: Bool { errno == EAGAIN }
    /// True when a ROUTER with `routerMandatory` was asked to send to an unknown peer.
    public var hostUnreachable: Bool { errno == EHOSTUNREACH }
    /// True when the context was terminated under the call.
    public var contextTerminated: Bool { errno == ETERM }
    /// True when a signal interrupted the call; retrying is correct.
    public var interrupted: Bool { errno == EINTR }

    public var description: String { "\(operation) failed: \(message) (errno \(errno))" }
}
