import DequeModule
import Foundation
import Synchronization

/// Messages waiting for one consumer: appended by the connection's thread, taken by `peek`.
/// Taking removes them, so nothing is ever returned twice (at-most-once).
final class Inbox: Sendable {
    private struct State {
        var messages: Deque<[UInt8]> = []
        var nextOffset: Int64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    let topic: String
    private let state = Mutex(State())

    init(topic: String) { self.topic = topic }

    func append(_ bytes: [UInt8]) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.closed else { return [] }
            state.messages.append(bytes)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func close() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Up to `limit` messages, waiting up to `timeout` for the first one.
    func take(limit: Int, timeout: Duration) async -> [PeekedMessage] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (taken, closed) = state.withLock { state -> ([PeekedMessage], Bool) in
                var taken: [PeekedMessage] = []
                while taken.count < limit, let bytes = state.messages.popFirst() {
                    taken.append(PeekedMessage(topic: topic, partition: 0, offset: state.nextOffset, bytes: bytes))
                    state.nextOffset += 1
                }
                return (taken, state.closed)
            }
            if !taken.isEmpty || closed || ContinuousClock.now >= deadline { return taken }
            await waitForAppend(until: deadline)
        }
    }

    /// Returns at the next append, at close, or at `deadline`, whichever is first.
    private func waitForAppend(until deadline: ContinuousClock.Instant) async {
        let token = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer = Task { [self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            let waiter = state.withLock { $0.waiters.removeValue(forKey: token) }
            waiter?.resume()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if !state.messages.isEmpty || state.closed || ContinuousClock.now >= deadline { return true }
                state.waiters[token] = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
    }

    var count: Int { state.withLock { $0.messages.count } }
}
