/// Waits for state: reads `condition` until it holds, and throws naming `what` if `timeout`
/// passes first. For state only a read can tell (a broker's `/status`, etcd's keys, a
/// probe's answer); the reads are spaced by `every` so a loaded 2-core machine is not flooded.
/// This is the one place the tests pace such reads.
public func waitUntil(_ what: String, timeout: Duration = .seconds(15), every: Duration = .milliseconds(50),
                      _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while try await !condition() {
        guard clock.now < deadline else { throw WaitTimedOut(what: what, timeout: timeout) }
        try await clock.sleep(until: min(clock.now + every, deadline))
    }
}

public struct WaitTimedOut: Error, CustomStringConvertible {
    public var what: String
    public var timeout: Duration
    public var description: String { "waited \(timeout) for \(what)" }
}
