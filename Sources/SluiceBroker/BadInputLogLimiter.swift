import SluiceCore

/// Bounds the log lines a peer's bad input can cause (issue 13, item 17): per peer, the first
/// `perWindow` bad messages of each window are logged one line each; the rest are only
/// counted here and summarised in one line per peer when the window ends. The broker's
/// counters (`protocol_errors_*`) stay exact whatever is logged.
///
/// Loop thread only. Memory: one entry per peer that sent bad input in the current window.
struct BadInputLogLimiter {
    struct Peer: Hashable {
        var endpoint: Endpoint
        var route: RoutingID
    }

    /// What was not logged for one peer in a window that ended.
    struct Summary: Equatable {
        var peer: Peer
        var suppressed: Int
        /// Suppressed messages by error code name.
        var codes: [String: Int]
    }

    let perWindow: Int
    let window: Duration
    private var windowStart: Timestamp
    private var logged: [Peer: Int] = [:]
    private var suppressed: [Peer: [String: Int]] = [:]

    init(perWindow: Int = 5, window: Duration = .seconds(10), start: Timestamp) {
        self.perWindow = perWindow
        self.window = window
        self.windowStart = start
    }

    /// Whether this bad message gets its own log line; if not, it is counted for the summary.
    mutating func admit(_ peer: Peer, code: String) -> Bool {
        let count = logged[peer, default: 0]
        if count < perWindow {
            logged[peer] = count + 1
            return true
        }
        suppressed[peer, default: [:]][code, default: 0] += 1
        return false
    }

    /// Ends the window if it is over (or `force`): the summaries of what was not logged, and
    /// every peer starts afresh.
    mutating func endWindow(now: Timestamp, force: Bool = false) -> [Summary] {
        guard force || now.since(windowStart) >= window else { return [] }
        windowStart = now
        let summaries = suppressed.map { peer, codes in
            Summary(peer: peer, suppressed: codes.values.reduce(0, +), codes: codes)
        }
        logged.removeAll(keepingCapacity: true)
        suppressed.removeAll(keepingCapacity: true)
        return summaries
    }
}
