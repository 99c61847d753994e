import SluiceProtocol

/// Monotonic counters of everything the broker does; the shell prints them on exit and
/// periodically, and tests assert on them. Names are the metric names (snake case). No counter
/// ever goes down: one that counts sends (`dispatched`, `answersDelivered`,
/// `publicationsDelivered`) counts what was handed to the shell, and a send that then fails is
/// counted in its own counter (`dispatchRetries`, `answersUndelivered`, `publicationsDropped`).
public struct BrokerCounters: Sendable, Equatable {
    public var activationsReceived = 0
    public var dispatched = 0
    public var answersByKind = [Int](repeating: 0, count: AnswerKind.allCases.count)
    public var answersDelivered = 0
    /// ANSWERs the shell could not hand to the controller's connection: kept again (§6.4).
    public var answersUndelivered = 0
    public var answersParked = 0
    public var answersDropped = 0
    public var lateCompletions = 0
    public var protocolErrorsByCode: [UInt16: Int] = [:]
    public var invokersLost = 0
    public var dispatchRetries = 0
    /// Placements a strategy forced onto a full invoker (`PlacementDecision.force`).
    public var forcedPlacements = 0
    /// Decisions refused because the strategy broke its contract.
    public var strategyContractBroken = 0
    /// Times the routing strategy was replaced while running.
    public var strategySwaps = 0
    /// Waiting activations recovered from the overflow store after a restart.
    public var overflowRecovered = 0
    /// Recovered activations the store could not vouch for: answered `systemError`, never run.
    public var overflowUncertain = 0
    /// Journaled activations left in a broken overflow store for the next run, unanswered.
    public var overflowWithheld = 0
    /// PUBLISH messages received (§4.14).
    public var publicationsReceived = 0
    /// Publications handed to subscribers (one per subscriber reached).
    public var publicationsDelivered = 0
    /// Publications a subscriber missed because its connection was full or gone (§6.5).
    public var publicationsDropped = 0
    /// Publications no session was subscribed to.
    public var publicationsUnheard = 0
    /// CURVE client keys let in, and refused (unknown key, wrong role, or not CURVE).
    public var authenticationsAccepted = 0
    public var authenticationsRefused = 0
    /// ERROR, HEARTBEAT and WELCOME messages a peer's full or gone connection did not take (§7).
    public var repliesUndelivered = 0

    public init() {}

    public var answered: Int { answersByKind.reduce(0, +) }
    public func answers(_ kind: AnswerKind) -> Int { answersByKind[Int(kind.rawValue)] }
    public func protocolErrors(_ code: ErrorCode) -> Int { protocolErrorsByCode[code.rawValue, default: 0] }
    public var protocolErrors: Int { protocolErrorsByCode.values.reduce(0, +) }

    /// `name value` pairs in a stable order, for summaries.
    public var fields: [(String, Int)] {
        var result: [(String, Int)] = [
            ("activations_received", activationsReceived),
            ("dispatched", dispatched),
            ("answered", answered),
        ]
        for kind in AnswerKind.brokerKinds { result.append(("answered_\(kind)", answers(kind))) }
        result += [
            ("answers_delivered", answersDelivered),
            ("answers_undelivered", answersUndelivered),
            ("answers_parked", answersParked),
            ("answers_dropped", answersDropped),
            ("late_completions", lateCompletions),
            ("invokers_lost", invokersLost),
            ("dispatch_retries", dispatchRetries),
            ("forced_placements", forcedPlacements),
            ("strategy_contract_broken", strategyContractBroken),
            ("strategy_swaps", strategySwaps),
            ("overflow_recovered", overflowRecovered),
            ("overflow_uncertain", overflowUncertain),
            ("overflow_withheld", overflowWithheld),
            ("publications_received", publicationsReceived),
            ("publications_delivered", publicationsDelivered),
            ("publications_dropped", publicationsDropped),
            ("publications_unheard", publicationsUnheard),
            ("authentications_accepted", authenticationsAccepted),
            ("authentications_refused", authenticationsRefused),
            ("replies_undelivered", repliesUndelivered),
            ("protocol_errors", protocolErrors),
        ]
        for code in ErrorCode.known where protocolErrors(code) > 0 {
            result.append(("protocol_errors_\(code.name)", protocolErrors(code)))
        }
        return result
    }
}
