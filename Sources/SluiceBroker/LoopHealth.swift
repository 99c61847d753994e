import SluiceCore

/// The loop's own health (issue 13, item 19): how long each turn's work took and how late
/// each tick ran, so a stall says where it came from. A turn that works long stalls the loop
/// itself; a tick that is late after short turns means the thread was not running (the OS,
/// another process). Reported once per `window` when anything passed `slow`.
///
/// Loop thread only.
struct LoopHealth {
    let slow: Duration
    let window: Duration
    private var windowStart: Timestamp
    private(set) var longestTurn: Duration = .zero
    private(set) var longestTurnMessages = 0
    private(set) var latestTick: Duration = .zero
    private(set) var slowTurns = 0
    private(set) var lateTicks = 0
    /// Over the life of the loop.
    private(set) var totalSlowTurns = 0
    private(set) var totalLateTicks = 0

    init(slow: Duration = .milliseconds(20), window: Duration = .seconds(10), start: Timestamp) {
        self.slow = slow
        self.window = window
        self.windowStart = start
    }

    mutating func turn(took duration: Duration, messages: Int) {
        if duration > longestTurn {
            longestTurn = duration
            longestTurnMessages = messages
        }
        if duration >= slow {
            slowTurns += 1
            totalSlowTurns += 1
        }
    }

    mutating func tick(late lateness: Duration) {
        latestTick = max(latestTick, lateness)
        if lateness >= slow {
            lateTicks += 1
            totalLateTicks += 1
        }
    }

    /// What the window that just ended saw, if it saw anything slow; then a new window.
    struct Report {
        var longestTurn: Duration
        var longestTurnMessages: Int
        var slowTurns: Int
        var latestTick: Duration
        var lateTicks: Int
    }

    mutating func endWindow(now: Timestamp) -> Report? {
        guard now.since(windowStart) >= window else { return nil }
        defer {
            windowStart = now
            longestTurn = .zero
            longestTurnMessages = 0
            latestTick = .zero
            slowTurns = 0
            lateTicks = 0
        }
        guard slowTurns > 0 || lateTicks > 0 else { return nil }
        return Report(longestTurn: longestTurn, longestTurnMessages: longestTurnMessages, slowTurns: slowTurns,
                      latestTick: latestTick, lateTicks: lateTicks)
    }
}
