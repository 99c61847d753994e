import CZeroMQ
import Synchronization

/// A libzmq context: owns the I/O threads and every socket made from it.
///
/// Contexts are thread-safe, so `ZMQContext` is `Sendable`. The context is terminated when the
/// last reference goes away; sockets must be closed first (each `ZMQSocket` closes itself in
/// `deinit` and sets a finite linger, so termination cannot hang on unsent messages).
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let terminated = Atomic<Bool>(false)

    /// Creates a context.
    /// - Parameters:
    ///   - ioThreads: libzmq I/O threads (default 1).
    ///   - maxSockets: socket limit (libzmq's default is 1023; brokers with many peers need more
    ///     only for *their own* sockets, not per peer).
    public init(ioThreads: Int32 = 1, maxSockets: Int32? = nil) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) != 0 {
            let error = ZMQError.last("zmq_ctx_set(ZMQ_IO_THREADS)")
            zmq_ctx_term(handle)
            throw error
        }
        if let maxSockets, zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, maxSockets) != 0 {
            let error = ZMQError.last("zmq_ctx_set(ZMQ_MAX_SOCKETS)")
            zmq_ctx_term(handle)
            throw error
        }
    }

    deinit {
        terminate()
    }

    /// Ends the context now: blocks until every socket made from it is closed and each has sent
    /// what it still held, or its linger ran out. Only the first call does anything; the
    /// context cannot be used afterwards.
    public func terminate() {
        guard !terminated.exchange(true, ordering: .acquiringAndReleasing) else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// Makes blocking calls on every socket of this context return `ETERM`.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    /// The libzmq version linked at run time, e.g. `(4, 3, 4)`.
    public static var version: (major: Int32, minor: Int32, patch: Int32) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (major, minor, patch)
    }

    /// Whether libzmq was built with a capability (`"curve"`, `"ipc"`, ...).
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) != 0
    }
}

/// The names the kernel shows for the threads of a process that runs a ZeroMQ loop
/// (`/proc/PID/task/*/comm`, `top -H`, `perf`), so tools can tell them apart.
public enum ProcessThreads {
    /// The thread that owns the sockets and runs the loop (the broker's, or the bench's
    /// forwarder's); at most 15 bytes, the kernel's limit.
    public static let loopName = "sluice-loop"
    /// libzmq names its I/O threads `ZMQbg/IO/0`, `ZMQbg/IO/1`, ...
    public static let ioPrefix = "ZMQbg/IO/"

    /// Gives the calling thread `loopName` where the kernel shows it (Foundation's
    /// `Thread.name` does not reach the kernel on Linux).
    public static func nameCurrentThreadAsLoop() {
        _ = sluice_name_this_thread(loopName)
    }
}
