import SluicePluginAPI
import SluiceProtocol

/// Everything the broker core can be told, with the defaults docs/PROTOCOL.md states.
/// `validate()` names the first bad key, so the executable can refuse to start with a clear
/// message.
public struct BrokerConfiguration: Sendable, Equatable {
    /// Told to peers in WELCOME.
    public var brokerID = "sluice"
    /// How often heartbeats go each way (§4.3).
    public var heartbeatInterval: Duration = .seconds(1)
    /// Missed heartbeat intervals after which a peer is dead (§5).
    public var liveness = 3
    /// Largest message the broker accepts, bytes (ZMQ_MAXMSGSIZE, §2).
    public var maxMessageBytes = 2 * 1024 * 1024

    /// Activations that may wait for room at once (§6.1); past it: `overloaded`.
    public var maxWaiting = 10_000
    /// Payload bytes that may wait at once; past it: `overloaded`.
    public var maxWaitingBytes = 512 * 1024 * 1024
    /// Longest an activation may wait before it is answered `expired` (§6.2); an activation
    /// may ask for less (`max-wait-ms`).
    public var maxWaitingAge: Duration = .seconds(60)
    /// The shell sends `.endOfBatch` after each batch of received messages, so the waiting
    /// queue is offered the slots a batch's completions freed once per batch, not once per
    /// completion. Nothing else waits for it: a new activation, a tick or any other change of
    /// room first offers pending slots to waiting work, so a freed slot still goes to work
    /// that waited before a newcomer (§6.1). The broker's loop turns it on.
    public var batchesPlacement = false
    /// Activations of one action that may wait; past it: `throttled` (OpenWhisk's scheduler
    /// stops a queue at 10,000).
    public var maxWaitingPerAction = 10_000
    /// Activations of one namespace that may wait (its share); past it: `throttled`.
    public var maxWaitingPerNamespace = 10_000
    /// In-flight limit of every namespace, cluster-wide; nil: none (§6.1).
    public var namespaceConcurrencyLimit: Int?
    /// Per-namespace overrides of `namespaceConcurrencyLimit`.
    public var namespaceConcurrencyLimits: [String: Int] = [:]
    /// Emit `overflowAppend`/`overflowConsume` actions so the shell journals waiting work to
    /// an overflow store (off for the in-memory store).
    public var persistOverflow = false
    /// This run's incarnation when the broker is part of a cluster (§9): new at every start,
    /// sent in MEMBERS and RECOVERED. Nil: a broker on its own, which refuses CLUSTER.
    public var incarnation: UInt64?
    /// Record wait, run and answer durations for the shell to take (`BrokerCore.takeLatencySamples()`);
    /// on when the broker's monitoring endpoint is.
    public var recordsLatencies = false

    /// Circuit breaker: deadline = max(time limit, floor) * multiplier + slack (§5).
    public var completionTimeoutFloor: Duration = .seconds(60)
    public var completionTimeoutMultiplier = 2
    public var completionTimeoutSlack: Duration = .seconds(60)

    /// Health (§5): outcomes remembered, and how many failures of a kind make it sick.
    public var healthWindow = 10
    public var maxSystemErrors = 3
    public var maxTimeouts = 3
    /// Time before a sick invoker gets a probe activation.
    public var healthCooldown: Duration = .seconds(10)

    /// Answers kept for a controller that is not connected (§6.4).
    public var maxParkedAnswersPerController = 10_000
    public var maxParkedAnswerAge: Duration = .seconds(300)
    /// Answers kept for all absent controllers together, and their result bytes: any peer can
    /// name any `answer-to`, so the total is bounded too (§6.4).
    public var maxParkedAnswers = 100_000
    public var maxParkedAnswerBytes = 256 * 1024 * 1024

    /// The managed/blackbox split of invoker positions (§6.1).
    public var eligibility = EligibilityPolicy()

    public init() {}

    /// The circuit-breaker deadline for an activation with this time limit.
    public func completionTimeout(timeLimitMilliseconds: UInt32) -> Duration {
        let limit = max(Duration.milliseconds(Int64(timeLimitMilliseconds)), completionTimeoutFloor)
        return limit.saturatingTimes(completionTimeoutMultiplier).saturatingPlus(completionTimeoutSlack)
    }

    /// The in-flight limit of `namespace`, if it has one.
    public func concurrencyLimit(of namespace: String) -> Int? {
        namespaceConcurrencyLimits.isEmpty ? namespaceConcurrencyLimit : namespaceConcurrencyLimits[namespace] ?? namespaceConcurrencyLimit
    }

    /// How long an activation may wait: its own limit if it set a shorter one.
    public func waitLimit(for header: RoutingHeader) -> Duration {
        let requested = Duration.milliseconds(Int64(header.maxWaitMilliseconds))
        return header.maxWaitMilliseconds > 0 && requested < maxWaitingAge ? requested : maxWaitingAge
    }

    /// Liveness window: silence after which a peer is dead.
    public var livenessWindow: Duration { heartbeatInterval.saturatingTimes(liveness) }

    /// A configuration value that cannot work, named by its key.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var key: String
        public var problem: String
        public var description: String { "invalid configuration '\(key)': \(problem)" }

        public init(key: String, problem: String) {
            self.key = key
            self.problem = problem
        }
    }

    /// Throws `Invalid` naming the first key whose value cannot work.
    public func validate() throws(Invalid) {
        if !Identifier.isValid(brokerID) { throw Invalid(key: "broker-id", problem: "'\(brokerID)' must match [A-Za-z0-9._-]{1,128}") }
        if heartbeatInterval < .milliseconds(10) { throw Invalid(key: "heartbeat-interval", problem: "must be at least 10 ms") }
        if liveness < 1 { throw Invalid(key: "liveness", problem: "must be at least 1 interval") }
        if maxMessageBytes < 1024 { throw Invalid(key: "max-message-bytes", problem: "must be at least 1024") }
        if maxWaiting < 0 { throw Invalid(key: "max-waiting", problem: "must not be negative") }
        if maxWaitingBytes < 0 { throw Invalid(key: "max-waiting-bytes", problem: "must not be negative") }
        if maxWaitingAge <= .zero { throw Invalid(key: "max-waiting-age", problem: "must be positive") }
        if maxWaitingPerAction < 0 { throw Invalid(key: "waiting.max-per-action", problem: "must not be negative") }
        if maxWaitingPerNamespace < 0 { throw Invalid(key: "waiting.max-per-namespace", problem: "must not be negative") }
        if let limit = namespaceConcurrencyLimit, limit < 1 {
            throw Invalid(key: "namespaces.concurrency", problem: "must be at least 1 (omit it for no limit)")
        }
        for (namespace, limit) in namespaceConcurrencyLimits where limit < 1 {
            throw Invalid(key: "namespaces.limits.\(namespace)", problem: "must be at least 1")
        }
        if completionTimeoutFloor < .zero || completionTimeoutSlack < .zero || completionTimeoutMultiplier < 1 {
            throw Invalid(key: "completion-timeout", problem: "floor and slack must not be negative; multiplier at least 1")
        }
        if healthWindow < 1 { throw Invalid(key: "health-window", problem: "must be at least 1") }
        if maxSystemErrors < 0 || maxTimeouts < 0 { throw Invalid(key: "health-thresholds", problem: "must not be negative") }
        for (key, value) in [("routing.managed-fraction", eligibility.managedFraction), ("routing.blackbox-fraction", eligibility.blackboxFraction)]
        where !(value > 0 && value <= 1) {
            throw Invalid(key: key, problem: "must be greater than 0 and at most 1; got \(value)")
        }
        if maxParkedAnswersPerController < 0 { throw Invalid(key: "max-parked-answers", problem: "must not be negative") }
        if maxParkedAnswers < 0 || maxParkedAnswerBytes < 0 {
            throw Invalid(key: "maxParkedAnswers/maxParkedAnswerBytes (BrokerConfiguration, not a configuration key)", problem: "must not be negative")
        }
    }
}
