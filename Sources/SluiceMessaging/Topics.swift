import SluiceProtocol

/// The topics OpenWhisk's messaging provider serves, and what each means on Sluice
/// (docs/TOPICS.md).
public enum OpenWhiskTopic: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// `invoker<N>`: activations for invoker N (a controller sends, that invoker consumes).
    case invoker(Int)
    /// `completed<C>`: acknowledgements for controller C (invokers send, C consumes).
    case completed(String)
    /// `health`: every invoker's PingMessage, fanned out to every consumer.
    case health
    /// `cacheInvalidation`: best-effort broadcast between controllers.
    case cacheInvalidation
    /// `events`: best-effort broadcast to metrics consumers.
    case events

    /// Reads a topic name; the error names the shapes that are accepted.
    public init(_ name: String) throws(MessagingError) {
        switch name {
        case "health": self = .health
        case "cacheInvalidation": self = .cacheInvalidation
        case "events": self = .events
        default:
            if name.hasPrefix("invoker"), let number = Int(name.dropFirst("invoker".count)), number >= 0,
               String(number) == name.dropFirst("invoker".count) {
                self = .invoker(number)
            } else if name.hasPrefix("completed"), case let controller = String(name.dropFirst("completed".count)),
                      Identifier.isValid(controller) {
                self = .completed(controller)
            } else {
                throw MessagingError(topic: name, problem: "unknown topic; Sluice serves invoker<N> (N = 0, 1, ...), completed<C> (C a controller id), health, cacheInvalidation and events")
            }
        }
    }

    public var description: String {
        switch self {
        case .invoker(let number): "invoker\(number)"
        case .completed(let controller): "completed\(controller)"
        case .health: "health"
        case .cacheInvalidation: "cacheInvalidation"
        case .events: "events"
        }
    }

    /// The broadcast topic this maps to (§4.14), for the three fan-out topics.
    var broadcastTopic: String? {
        switch self {
        case .health, .cacheInvalidation, .events: description
        case .invoker, .completed: nil
        }
    }
}

/// A topic operation that cannot be done; says which topic and why.
public struct MessagingError: Error, Equatable, Sendable, CustomStringConvertible {
    public var topic: String
    public var problem: String

    public init(topic: String, problem: String) {
        self.topic = topic
        self.problem = problem
    }

    public var description: String { "topic '\(topic)': \(problem)" }
}

/// What `send` returns once the message is handed to the broker connection (not once it is
/// delivered: delivery is at-most-once, and answers arrive on `completed<C>`).
public struct SendReceipt: Equatable, Sendable {
    public var topic: String
    /// Always 0: Sluice topics have no partitions.
    public var partition: Int
    /// Position of this message among those this producer sent on `topic`, from 0.
    public var offset: Int64
    /// The activation sent, for `invoker<N>`; nil for other topics.
    public var activationID: String?
}

/// One message a consumer peeked, shaped like a Kafka record.
public struct PeekedMessage: Equatable, Sendable {
    public var topic: String
    /// Always 0.
    public var partition: Int
    /// Position of this message on this consumer, from 0, without gaps.
    public var offset: Int64
    /// The bytes as their sender sent them: an ActivationMessage, an acknowledgement (or one
    /// Sluice made for a broker-decided answer, docs/TOPICS.md), a PingMessage, or a broadcast payload.
    public var bytes: [UInt8]
}
