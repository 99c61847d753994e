/// What happened to an activation (§6.2). Every activation gets exactly one answer.
public enum AnswerKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The action ran and succeeded; the result frame holds the invoker's bytes.
    case success = 0
    /// The action ran and reported an error; the result frame holds the invoker's bytes.
    case applicationError = 1
    /// The invoker reported a platform error; the result frame holds the invoker's bytes.
    case systemError = 2
    /// No completion before the deadline (circuit breaker), or the broker shut down.
    case timeout = 3
    /// The invoker died or left while running it.
    case invokerLost = 4
    /// The waiting queue is full, or the broker is shutting down.
    case overloaded = 5
    /// A namespace limit refused it.
    case throttled = 6
    /// It waited longer than the age limit.
    case expired = 7
    /// The request is invalid; the reason says why.
    case rejected = 8
    /// The broker holding it was lost (silent past the liveness window, or restarted); the
    /// outcome is unknown: it may have run. Never sent by a broker: a cluster client makes it
    /// for its application (§9.2, §9.5).
    case brokerLost = 9

    public var description: String {
        switch self {
        case .success: "success"
        case .applicationError: "applicationError"
        case .systemError: "systemError"
        case .timeout: "timeout"
        case .invokerLost: "invokerLost"
        case .overloaded: "overloaded"
        case .throttled: "throttled"
        case .expired: "expired"
        case .rejected: "rejected"
        case .brokerLost: "brokerLost"
        }
    }

    /// The kinds a broker gives (every kind but `brokerLost`): what its counters and metrics list.
    public static let brokerKinds: [AnswerKind] = allCases.filter { $0 != .brokerLost }

    /// Whether the action ran and the invoker's result frame is attached.
    public var carriesResult: Bool { self == .success || self == .applicationError || self == .systemError }
}

/// How an action ended, as an invoker reports it in RESULT and COMPLETION (§4.10).
public enum Outcome: UInt8, Sendable, CaseIterable {
    case success = 0
    case applicationError = 1
    case systemError = 2

    /// The answer kind a controller receives for this outcome.
    public var answerKind: AnswerKind {
        switch self {
        case .success: .success
        case .applicationError: .applicationError
        case .systemError: .systemError
        }
    }
}
