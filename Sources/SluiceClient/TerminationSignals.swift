#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unblocks SIGINT and SIGTERM for this thread and the threads it starts later. A parent that
/// spawned this program from a thread blocking signals (Foundation's `Process` does so from
/// Dispatch threads) passes that mask on, and the peer would then ignore Ctrl-C and `kill`.
/// Peer programs (invokers, controllers) call it first thing.
public func unblockTerminationSignals() {
    var terminating = sigset_t()
    sigemptyset(&terminating)
    sigaddset(&terminating, SIGINT)
    sigaddset(&terminating, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &terminating, nil)
}
