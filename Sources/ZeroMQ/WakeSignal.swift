import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A Linux eventfd that another thread signals to wake a `ZMQPoller` loop.
///
/// Thread-safe: `signal()` may be called from any thread; `drain()` belongs to the loop.
public final class WakeSignal: Sendable {
    public let fileDescriptor: Int32

    public init() throws(ZMQError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if fd < 0 { throw ZMQError(errno: errno, operation: "eventfd") }
        fileDescriptor = fd
    }

    deinit { close(fileDescriptor) }

    /// Wakes the loop. Cheap and idempotent until drained.
    public func signal() {
        var one: UInt64 = 1
        _ = write(fileDescriptor, &one, 8)
    }

    /// Clears pending signals (call from the loop after it woke).
    public func drain() {
        var value: UInt64 = 0
        _ = read(fileDescriptor, &value, 8)
    }
}
