import Foundation
import Logging
import SluiceClient
import SluiceOpenWhisk
import SluiceProtocol
import Synchronization
import DequeModule

/// Which side of OpenWhisk this provider speaks for.
public enum MessagingRole: Sendable {
    /// A controller with OpenWhisk controller id `id` (its `rootControllerIndex.asString`,
    /// for example `"0"`): sends on `invoker<N>`, consumes `completed<id>`.
    case controller(id: String, placement: ControllerPlacement = .direct)
    /// Invoker `instance` (Sluice id `invoker<instance>`): consumes `invoker<instance>`, sends
    /// acknowledgements on `completed<C>` and pings on `health`.
    case invoker(instance: Int, memoryMB: UInt32, slots: UInt32, tags: [String] = [], dedicatedNamespaces: [String] = [])
}

/// What `send("invoker<N>", ...)` means for a controller.
public enum ControllerPlacement: Sendable {
    /// Exactly invoker N, as with Kafka (the activation waits if N is busy).
    case direct
    /// The broker's routing strategy chooses; N is ignored.
    case broker
}

/// A MessagingProvider-shaped facade over Sluice, so code written against OpenWhisk's
/// messaging interface (producers sending to topics, consumers that `peek` and `commit`) ports
/// without redesign. docs/TOPICS.md maps each topic onto SLU/1.
///
/// One provider is one broker session (a controller or an invoker connection). Consumers and
/// producers made from it share that session.
public final class SluiceMessagingProvider: Sendable {
    public let role: MessagingRole
    let hints: RoutingHints
    let connection: Connection
    private let inboxes = Mutex<[OpenWhiskTopic: Inbox]>([:])
    /// What a controller remembers of each activation it sent: until its answer, to write
    /// OpenWhisk's acknowledgement when Sluice decides the answer; then, for the most recent
    /// 65,536 answered, to write the completion for a COMPLETED notice (docs/TOPICS.md).
    let sentActivations = Mutex(SentActivations())
    let sequence = Mutex<[String: Int64]>([:])
    /// Whether the last ping this invoker sent said `isEnabled: false`.
    let drained = Mutex(false)
    private let readers = Mutex<[Task<Void, Never>]>([])
    let logger: Logger

    enum Connection: Sendable {
        case controller(ControllerClient)
        case invoker(InvokerClient, baseline: Capacity)
    }

    /// - Parameters:
    ///   - role: controller or invoker.
    ///   - endpoint: the broker endpoint for that role (controllers 5671, invokers 5672 by default).
    ///   - hints: for controllers, the memory and time limit (and other routing hints) used
    ///     for every activation sent; OpenWhisk's defaults (256 MB, 60 s) when absent.
    public init(role: MessagingRole, endpoint: String, hints: RoutingHints = RoutingHints(),
                logger: Logger = Logger(label: "sluice.messaging")) throws {
        self.role = role
        self.hints = hints
        self.logger = logger
        switch role {
        case .controller(let id, _):
            // FOLLOW: OpenWhisk frees an invoker's slot in its books only on the completion.
            connection = .controller(try ControllerClient(id: id, endpoint: endpoint, follow: true, logger: logger))
        case .invoker(let instance, let memoryMB, let slots, let tags, let dedicated):
            let topic = OpenWhiskTopic.invoker(instance)
            let inbox = Inbox(topic: topic.description)
            inboxes.withLock { $0[topic] = inbox }
            let client = try InvokerClient(id: OpenWhiskIdentifiers.invokerID(instance: instance), endpoint: endpoint,
                                           memoryMB: memoryMB, slots: slots, tags: tags, dedicatedNamespaces: dedicated,
                                           logger: logger) { activation in
                inbox.append(activation.payload)
            }
            connection = .invoker(client, baseline: Capacity(memoryMB: memoryMB, slots: slots))
        }
    }

    /// Connects to the broker and waits up to `timeout` for its WELCOME. Returns whether it came.
    @discardableResult
    public func start(timeout: Duration = .seconds(10)) async -> Bool {
        switch connection {
        case .controller(let client):
            client.start()
            startReading(client.answers) { [self] answer in deliverAnswer(answer) }
            startReading(client.completions) { [self] notice in deliverCompletion(notice) }
            startReading(client.publications) { [self] publication in deliverPublication(publication) }
            return await client.waitUntilWelcomed(timeout: timeout)
        case .invoker(let client, _):
            client.start()
            startReading(client.publications) { [self] publication in deliverPublication(publication) }
            return await client.waitUntilWelcomed(timeout: timeout)
        }
    }

    private func startReading<Element: Sendable>(_ stream: AsyncStream<Element>, _ handle: @escaping @Sendable (Element) -> Void) {
        let task = Task {
            for await element in stream { handle(element) }
        }
        readers.withLock { $0.append(task) }
    }

    /// Checks that `topic` is one Sluice serves. Nothing needs creating: topics are routes.
    public func ensureTopic(_ topic: String) -> Result<Void, MessagingError> {
        do throws(MessagingError) {
            _ = try OpenWhiskTopic(topic)
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// A producer on this provider's session.
    public func producer() -> SluiceMessageProducer { SluiceMessageProducer(provider: self) }

    /// A consumer of `topic`, returning at most `maxPeek` messages per `peek`. One consumer per
    /// topic per provider; `groupID` is accepted for interface compatibility and not used
    /// (every topic has a single reader, as OpenWhisk uses them).
    public func consumer(topic: String, groupID: String = "", maxPeek: Int = 128) async throws(MessagingError) -> SluiceMessageConsumer {
        let parsed = try OpenWhiskTopic(topic)
        guard maxPeek >= 1 else { throw MessagingError(topic: topic, problem: "maxPeek must be at least 1; got \(maxPeek)") }
        switch (role, parsed) {
        case (.controller(let id, _), .completed(let controller)):
            guard controller == id else {
                throw MessagingError(topic: topic, problem: "this controller is '\(id)'; it can consume completed\(id) only")
            }
        case (.invoker(let instance, _, _, _, _), .invoker(let number)):
            guard number == instance else {
                throw MessagingError(topic: topic, problem: "this invoker is instance \(instance); it can consume invoker\(instance) only")
            }
        case (.controller, .invoker):
            throw MessagingError(topic: topic, problem: "invoker topics are consumed by invokers; make the provider with role .invoker")
        case (.invoker, .completed):
            throw MessagingError(topic: topic, problem: "completed topics are consumed by controllers; make the provider with role .controller")
        case (_, .health), (_, .cacheInvalidation), (_, .events):
            break
        }
        let inbox = Inbox(topic: parsed.description)
        let existing = inboxes.withLock { table -> Inbox? in
            if let existing = table[parsed], case .invoker = parsed { return existing }
            if table[parsed] != nil { return nil }
            table[parsed] = inbox
            return inbox
        }
        guard let chosen = existing else {
            throw MessagingError(topic: topic, problem: "this provider already has a consumer for it")
        }
        if let broadcast = parsed.broadcastTopic {
            do throws(ProtocolError) {
                switch connection {
                case .controller(let client): try client.subscribe(broadcast)
                case .invoker(let client, _): try client.subscribe(broadcast)
                }
            } catch {
                throw MessagingError(topic: topic, problem: "could not subscribe: \(error)")
            }
        }
        return SluiceMessageConsumer(provider: self, topic: parsed, inbox: chosen, maxPeek: maxPeek)
    }

    /// The broker's `max-message`, from the session's WELCOME.
    var maxMessageBytes: Int {
        switch connection {
        case .controller(let client): client.maxMessageBytes
        case .invoker(let client, _): client.maxMessageBytes
        }
    }

    func inbox(_ topic: OpenWhiskTopic) -> Inbox? { inboxes.withLock { $0[topic] } }

    func removeConsumer(_ topic: OpenWhiskTopic) {
        let inbox = inboxes.withLock { $0.removeValue(forKey: topic) }
        inbox?.close()
        if let broadcast = topic.broadcastTopic {
            switch connection {
            case .controller(let client): client.unsubscribe(broadcast)
            case .invoker(let client, _): client.unsubscribe(broadcast)
            }
        }
    }

    // MARK: Inbound

    private func deliverAnswer(_ answer: ControllerAnswer) {
        // A COMPLETED notice can follow only an answer that carried the invoker's result.
        let sent = sentActivations.withLock { $0.answered(answer.activationID, noticeMayFollow: !answer.result.isEmpty) }
        guard case .controller(let id, _) = role, let inbox = inbox(.completed(id)) else {
            logger.warning("answer arrived with no consumer of completed<C>; dropped",
                           metadata: ["activation": "\(answer.activationID)", "kind": "\(answer.kind)"])
            return
        }
        // The invoker's own acknowledgement when the answer carries it; otherwise the one
        // OpenWhisk's controller needs for what Sluice decided (docs/TOPICS.md).
        inbox.append(answer.result.isEmpty
                     ? BrokerDecidedAcknowledgement.json(for: answer.header, sent: sent, nowMilliseconds: Self.nowMilliseconds())
                     : answer.result)
    }

    /// A COMPLETED notice (§10.1): OpenWhisk's controller gets the completion that frees the
    /// invoker's slot in its books, after the result that released the caller.
    private func deliverCompletion(_ notice: CompletedNotice) {
        let sent = sentActivations.withLock { $0.completed(notice.activationID) }
        guard case .controller(let id, _) = role, let inbox = inbox(.completed(id)),
              let completion = BrokerDecidedAcknowledgement.completion(for: notice, sent: sent, nowMilliseconds: Self.nowMilliseconds()) else { return }
        inbox.append(completion)
    }

    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    private func deliverPublication(_ publication: Publication) {
        guard let topic = try? OpenWhiskTopic(publication.topic), topic.broadcastTopic != nil else { return }
        inbox(topic)?.append(publication.payload)
    }

    /// Closes every consumer and the broker session (GOODBYE).
    public func close() {
        let all = inboxes.withLock { table -> [Inbox] in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for inbox in all { inbox.close() }
        switch connection {
        case .controller(let client): client.closeBlocking()
        case .invoker(let client, _): client.closeBlocking()
        }
        for task in readers.withLock({ $0 }) { task.cancel() }
    }

    func nextOffset(_ topic: String) -> Int64 {
        sequence.withLock { table in
            defer { table[topic, default: 0] += 1 }
            return table[topic, default: 0]
        }
    }
}

/// The activations a controller sent, until answered; then the most recent ones answered by
/// the invoker's result, for their COMPLETED notices (§10.1: sent only when the answer did not
/// free the slot; an answer the broker decided always does).
struct SentActivations: Sendable {
    private var pending: [String: SentActivation] = [:]
    private var answered: [String: SentActivation] = [:]
    private var answeredOrder = Deque<String>()
    static let answeredCapacity = 65_536

    mutating func sent(_ activation: SentActivation, id: String) { pending[id] = activation }

    /// Takes it out of the pending ones and, when a notice may follow, keeps it a while for it.
    mutating func answered(_ id: String, noticeMayFollow: Bool) -> SentActivation? {
        guard let activation = pending.removeValue(forKey: id) else { return nil }
        if noticeMayFollow, answered.updateValue(activation, forKey: id) == nil {
            answeredOrder.append(id)
            if answeredOrder.count > Self.answeredCapacity, let oldest = answeredOrder.popFirst() {
                answered.removeValue(forKey: oldest)
            }
        }
        return activation
    }

    mutating func completed(_ id: String) -> SentActivation? { answered.removeValue(forKey: id) }
}
