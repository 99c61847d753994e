import Foundation
import SluiceProtocol

// The OpenWhisk messages Sluice writes for OpenWhisk's controller, as Codable types named
// after OpenWhisk's own (common/scala/.../core/connector/Message.scala, core/entity/*.scala).
// Field names, which fields are present and their JSON shapes follow OpenWhisk's spray-json
// readers: every field that is not an `Option` in Scala is written, because spray-json refuses
// a message that lacks one, whatever its Scala default (docs/TOPICS.md, "What OpenWhisk must see").

/// `TransactionId`: written as `[id, startMillis]` (`[id, startMillis, true]` with extra logging).
extension OpenWhiskTransactionID: Codable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(id)
        try container.encode(startMilliseconds)
        if extraLogging { try container.encode(true) }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let id = try container.decode(String.self)
        let start = try container.decode(Int64.self)
        let extra = container.isAtEnd ? false : (try? container.decode(Bool.self)) ?? false
        self.init(id: id, startMilliseconds: start, extraLogging: extra)
    }
}

/// `InvokerInstanceId`: OpenWhisk's reader requires `instance`, `userMemory` (a ByteSize string
/// such as `"2048 MB"`), `instanceType` (`"invoker"`), `tags` and `dedicatedNamespaces`.
public struct InvokerInstanceId: Codable, Equatable, Sendable {
    public var instance: Int
    public var userMemory: String
    public var instanceType = "invoker"
    public var tags: [String]
    public var dedicatedNamespaces: [String]

    /// `userMemory` "0 B" when unknown: OpenWhisk's controller reads only `instance` from an
    /// acknowledgement (it releases the slot and records health by index).
    public init(instance: Int, userMemory: String = "0 B", tags: [String] = [], dedicatedNamespaces: [String] = []) {
        self.instance = instance
        self.userMemory = userMemory
        self.tags = tags
        self.dedicatedNamespaces = dedicatedNamespaces
    }
}

/// `ActivationResponse` as it travels on the bus: `statusCode` (0 success, 1 application
/// error, 2 action developer error, 3 whisk internal error) and `result`; errors are
/// `{"error": "<message>"}`, as OpenWhisk's `ActivationResponse.whiskError` and
/// `applicationError` make them.
public struct ActivationResponse: Codable, Equatable, Sendable {
    public var statusCode: Int
    public var result: [String: String]?

    public init(statusCode: Int, error: String) {
        self.statusCode = statusCode
        self.result = ["error": error]
    }

    public static let applicationErrorCode = 1
    public static let whiskErrorCode = 3
}

/// One annotation of an activation record: `{"key": ..., "value": ...}`.
public struct WhiskAnnotation: Codable, Equatable, Sendable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// `WhiskActivation`, the activation record a result carries. OpenWhisk's reader requires
/// `namespace`, `name`, `subject`, `activationId`, `start`, `end` (epoch milliseconds),
/// `response`, `logs`, `version`, `publish` and `annotations`; `duration` is optional.
public struct WhiskActivation: Codable, Equatable, Sendable {
    public var namespace: String
    public var name: String
    public var subject: String
    public var activationId: String
    public var start: Int64
    public var end: Int64
    public var response: ActivationResponse
    public var logs: [String] = []
    public var version: String
    public var publish = false
    public var annotations: [WhiskAnnotation]
    public var duration: Int64

    public init(namespace: String, name: String, subject: String, activationId: String, start: Int64, end: Int64,
                response: ActivationResponse, version: String, annotations: [WhiskAnnotation]) {
        self.namespace = namespace
        self.name = name
        self.subject = subject
        self.activationId = activationId
        self.start = start
        self.end = end
        self.response = response
        self.version = version
        self.annotations = annotations
        self.duration = max(0, end - start)
    }
}

/// `CombinedCompletionAndResultMessage`: frees the slot (`instance`) and carries the result
/// (`response`). OpenWhisk tells it apart by having both `instance` and `response`.
public struct CombinedCompletionAndResultMessage: Codable, Equatable, Sendable {
    public var transid: OpenWhiskTransactionID
    public var response: WhiskActivation
    public var isSystemError: Bool
    public var instance: InvokerInstanceId

    public init(transid: OpenWhiskTransactionID, response: WhiskActivation, isSystemError: Bool, instance: InvokerInstanceId) {
        self.transid = transid
        self.response = response
        self.isSystemError = isSystemError
        self.instance = instance
    }
}

/// `CompletionMessage`: frees the slot; no result. OpenWhisk tells it apart by `instance`
/// without `response`.
public struct CompletionMessage: Codable, Equatable, Sendable {
    public var transid: OpenWhiskTransactionID
    public var activationId: String
    public var isSystemError: Bool
    public var instance: InvokerInstanceId

    public init(transid: OpenWhiskTransactionID, activationId: String, isSystemError: Bool, instance: InvokerInstanceId) {
        self.transid = transid
        self.activationId = activationId
        self.isSystemError = isSystemError
        self.instance = instance
    }
}

/// What a controller remembers of an ActivationMessage it sent, to write OpenWhisk's
/// acknowledgement when Sluice, not the invoker, decides the answer.
public struct SentActivation: Equatable, Sendable {
    public var transid: OpenWhiskTransactionID
    /// `user.subject`.
    public var subject: String
    /// `user.namespace.name`: the namespace the activation record belongs to.
    public var namespace: String
    /// `action.path` and `action.name`.
    public var actionPath: String
    public var actionName: String
    /// `action.version`, or OpenWhisk's default `0.0.1`.
    public var actionVersion: String
    public var blocking: Bool
    /// The invoker instance OpenWhisk booked it on (the N of topic `invoker<N>`); -1 if none.
    public var bookedInvoker: Int
    /// When it was sent, epoch milliseconds.
    public var sentAtMilliseconds: Int64

    public init(transid: OpenWhiskTransactionID, subject: String, namespace: String, actionPath: String, actionName: String,
                actionVersion: String, blocking: Bool, bookedInvoker: Int = -1, sentAtMilliseconds: Int64 = 0) {
        self.transid = transid
        self.subject = subject
        self.namespace = namespace
        self.actionPath = actionPath
        self.actionName = actionName
        self.actionVersion = actionVersion
        self.blocking = blocking
        self.bookedInvoker = bookedInvoker
        self.sentAtMilliseconds = sentAtMilliseconds
    }
}

/// The acknowledgement OpenWhisk's controller must see for an answer Sluice decided
/// (docs/TOPICS.md, "What OpenWhisk must see").
public enum BrokerDecidedAcknowledgement {
    /// What OpenWhisk is told for one answer kind.
    public struct Rule: Equatable, Sendable {
        /// The activation record's `response.statusCode`.
        public var statusCode: Int
        /// `isSystemError`: counts against the named invoker's health.
        public var isSystemError: Bool
        /// Name the invoker that ran it (else the one OpenWhisk booked it on).
        public var namesRunningInvoker: Bool
        /// The `error` text's beginning.
        public var summary: String
    }

    /// The table in docs/TOPICS.md, one row per answer kind the broker or the client decides.
    public static func rule(for kind: AnswerKind) -> Rule? {
        switch kind {
        case .timeout:
            Rule(statusCode: ActivationResponse.whiskErrorCode, isSystemError: true, namesRunningInvoker: true,
                 summary: "The invoker did not complete the activation in time (circuit breaker)")
        case .invokerLost:
            Rule(statusCode: ActivationResponse.whiskErrorCode, isSystemError: true, namesRunningInvoker: true,
                 summary: "The invoker running the activation was lost")
        case .overloaded:
            Rule(statusCode: ActivationResponse.whiskErrorCode, isSystemError: false, namesRunningInvoker: false,
                 summary: "The system is overloaded: no invoker had room for the activation")
        case .expired:
            Rule(statusCode: ActivationResponse.whiskErrorCode, isSystemError: false, namesRunningInvoker: false,
                 summary: "The activation waited for an invoker longer than it may")
        case .brokerLost:
            Rule(statusCode: ActivationResponse.whiskErrorCode, isSystemError: false, namesRunningInvoker: false,
                 summary: "The broker holding the activation was lost; it may have run")
        case .throttled:
            Rule(statusCode: ActivationResponse.applicationErrorCode, isSystemError: false, namesRunningInvoker: false,
                 summary: "Too many concurrent activations in flight for the namespace")
        case .rejected:
            Rule(statusCode: ActivationResponse.applicationErrorCode, isSystemError: false, namesRunningInvoker: false,
                 summary: "The activation was rejected")
        case .success, .applicationError, .systemError:
            nil
        }
    }

    /// The invoker instance number of a Sluice invoker id `invoker<N>`, or nil.
    public static func instance(ofInvokerID id: String) -> Int? {
        guard id.hasPrefix("invoker"), let number = Int(id.dropFirst("invoker".count)), number >= 0 else { return nil }
        return number
    }

    /// The acknowledgement for `answer`, an answer without the invoker's own bytes:
    /// - a kind Sluice decided (timeout, invokerLost, overloaded, expired, throttled, rejected,
    ///   brokerLost): a `CombinedCompletionAndResultMessage` whose activation record's response
    ///   says why, so a blocking caller is released with that error and the slot is freed;
    /// - a completion without a result (success or systemError): a `CompletionMessage`, as
    ///   OpenWhisk's invoker sends for a non-blocking activation.
    /// `sent` is what the controller remembered of the activation; without it (an answer kept
    /// from before a restart) the record names what the answer says.
    public static func json(for answer: AnswerHeader, sent: SentActivation?, nowMilliseconds: Int64) -> [UInt8] {
        let ran = instance(ofInvokerID: answer.invokerID)
        let transid = sent?.transid ?? OpenWhiskTransactionID(id: "sid_unknown", startMilliseconds: nowMilliseconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let rule = rule(for: answer.kind) else {
            let message = CompletionMessage(transid: transid, activationId: answer.activationID, isSystemError: answer.kind == .systemError,
                                            instance: InvokerInstanceId(instance: ran ?? sent?.bookedInvoker ?? -1))
            return Array((try? encoder.encode(message)) ?? Data())
        }
        let invoker = rule.namesRunningInvoker ? (ran ?? sent?.bookedInvoker ?? -1) : (sent?.bookedInvoker ?? ran ?? -1)
        let reason = answer.reason.isEmpty ? rule.summary : "\(rule.summary): \(answer.reason)"
        let record = WhiskActivation(
            namespace: sent?.namespace ?? "_", name: sent?.actionName ?? "_", subject: sent?.subject ?? "sluice",
            activationId: answer.activationID, start: sent?.sentAtMilliseconds ?? nowMilliseconds, end: nowMilliseconds,
            response: ActivationResponse(statusCode: rule.statusCode, error: reason), version: sent?.actionVersion ?? "0.0.1",
            annotations: [WhiskAnnotation(key: "path", value: sent.map { "\($0.actionPath)/\($0.actionName)" } ?? "_"),
                          WhiskAnnotation(key: "sluiceAnswer", value: "\(answer.kind)")])
        let message = CombinedCompletionAndResultMessage(transid: transid, response: record, isSystemError: rule.isSystemError,
                                                         instance: InvokerInstanceId(instance: invoker))
        return Array((try? encoder.encode(message)) ?? Data())
    }

    /// The `CompletionMessage` for a COMPLETED notice (§10.1): the invoker's slot is free
    /// after the answer went out (OpenWhisk's split acknowledgement), or its invoker was lost.
    /// Nil for a circuit-breaker notice: OpenWhisk's controller runs the same timer and counts
    /// that case as a timeout itself, which no acknowledgement can express.
    public static func completion(for notice: CompletedNotice, sent: SentActivation?, nowMilliseconds: Int64) -> [UInt8]? {
        guard notice.cause != .timeout else { return nil }
        let transid = sent?.transid ?? OpenWhiskTransactionID(id: "sid_unknown", startMilliseconds: nowMilliseconds)
        let invoker = instance(ofInvokerID: notice.invokerID) ?? sent?.bookedInvoker ?? -1
        let message = CompletionMessage(transid: transid, activationId: notice.activationID, isSystemError: notice.systemError,
                                        instance: InvokerInstanceId(instance: invoker))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(message)) ?? Data())
    }
}
