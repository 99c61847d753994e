import SluiceClient
import SluiceOpenWhisk
import SluiceProtocol
import Synchronization

/// Sends OpenWhisk messages to topics (MessageProducer-shaped).
public final class SluiceMessageProducer: Sendable {
    let provider: SluiceMessagingProvider
    private let sent = Atomic<Int>(0)

    init(provider: SluiceMessagingProvider) { self.provider = provider }

    /// Messages sent so far.
    public var sentCount: Int { sent.load(ordering: .relaxed) }

    /// Sends `bytes` on `topic` and returns once the message is queued for the broker.
    /// Throws when the topic is unknown or not for this role, or when the message is not the
    /// JSON the topic carries (the error names the field).
    @discardableResult
    public func send(topic: String, _ bytes: [UInt8]) async throws(MessagingError) -> SendReceipt {
        let parsed = try OpenWhiskTopic(topic)
        // Checked before anything is read or sent: libzmq would drop the connection (and the
        // session) for a larger frame. OpenWhisk shrinks an acknowledgement whose send
        // failed and sends it again.
        let limit = provider.maxMessageBytes
        guard bytes.count <= limit else {
            throw MessagingError(topic: topic, problem: "message is \(bytes.count) bytes; the broker takes at most \(limit) (max-message): shrink it and send again")
        }
        var activationID: String? = nil
        switch (provider.connection, parsed) {
        case (.controller(let client), .invoker(let number)):
            let (header, read) = try read(topic) { () throws(OpenWhiskMessageError) in try ActivationMessageAdapter.read(bytes, hints: provider.hints) }
            var routed = header
            if case .controller(_, .direct) = provider.role { routed.targetInvoker = OpenWhiskIdentifiers.invokerID(instance: number) }
            var sent = read
            sent.bookedInvoker = number
            sent.sentAtMilliseconds = SluiceMessagingProvider.nowMilliseconds()
            provider.sentActivations.withLock { $0.sent(sent, id: header.activationID) }
            client.submit([(routed, bytes)])
            activationID = header.activationID
        case (.invoker(let client, _), .completed):
            let acknowledgement = try read(topic) { () throws(OpenWhiskMessageError) in try AcknowledgementAdapter.parse(bytes) }
            let message = acknowledgement.sluiceMessage()
            switch message.message {
            case .result(let header):
                client.sendResult(activationID: header.activationID, outcome: header.outcome, result: message.resultFrame ?? [])
            case .completion(let header):
                client.complete(activationID: header.activationID,
                                result: header.includesResult ? (header.outcome, message.resultFrame ?? []) : nil,
                                systemError: header.systemError)
            default:
                preconditionFailure("acknowledgement mapped to \(message.message.command)")
            }
            activationID = acknowledgement.acknowledgement.activationID
        case (.invoker(let client, let baseline), .health):
            let ping = try read(topic) { () throws(OpenWhiskMessageError) in try PingMessageAdapter.parse(bytes) }
            guard case .invoker(let instance, _, _, _, _) = provider.role, ping.instance == instance else {
                throw MessagingError(topic: topic, problem: "ping is from invoker \(ping.instance), but this provider is another invoker")
            }
            // isEnabled false drains (in-flight work finishes); true restores full capacity.
            let change = provider.drained.withLock { wasDrained -> Bool in
                defer { wasDrained = ping.drains }
                return wasDrained != ping.drains
            }
            if change {
                if ping.drains { client.updateCapacity(memoryMB: 0, slots: 0) }
                else { client.updateCapacity(memoryMB: baseline.memoryMB, slots: baseline.slots) }
            }
            try publish(topic, bytes)
        case (_, .cacheInvalidation), (_, .events):
            try publish(topic, bytes)
        case (.controller, .completed), (.controller, .health):
            throw MessagingError(topic: topic, problem: "only invokers send on it; this provider is a controller")
        case (.invoker, .invoker):
            throw MessagingError(topic: topic, problem: "only controllers send activations; this provider is an invoker")
        }
        sent.add(1, ordering: .relaxed)
        return SendReceipt(topic: topic, partition: 0, offset: provider.nextOffset(topic), activationID: activationID)
    }

    private func read<T>(_ topic: String, _ body: () throws(OpenWhiskMessageError) -> T) throws(MessagingError) -> T {
        do throws(OpenWhiskMessageError) {
            return try body()
        } catch {
            throw MessagingError(topic: topic, problem: "not a valid message: \(error)")
        }
    }

    private func publish(_ topic: String, _ bytes: [UInt8]) throws(MessagingError) {
        do throws(ProtocolError) {
            switch provider.connection {
            case .controller(let client): try client.publish(topic: topic, payload: bytes)
            case .invoker(let client, _): try client.publish(topic: topic, payload: bytes)
            }
        } catch {
            throw MessagingError(topic: topic, problem: "\(error)")
        }
    }

    /// Nothing to release: the session belongs to the provider.
    public func close() {}
}

/// Reads one topic (MessageConsumer-shaped). A peeked message is never returned again,
/// committed or not: Sluice is at-most-once (docs/TOPICS.md).
public final class SluiceMessageConsumer: Sendable {
    let provider: SluiceMessagingProvider
    public let topic: OpenWhiskTopic
    public let maxPeek: Int
    private let inbox: Inbox
    private let offsets = Mutex<(peeked: Int64, committed: Int64)>((-1, -1))

    init(provider: SluiceMessagingProvider, topic: OpenWhiskTopic, inbox: Inbox, maxPeek: Int) {
        self.provider = provider
        self.topic = topic
        self.inbox = inbox
        self.maxPeek = maxPeek
    }

    /// Up to `maxPeek` messages, waiting up to `timeout` for the first. Empty on timeout.
    public func peek(timeout: Duration) async -> [PeekedMessage] {
        let messages = await inbox.take(limit: maxPeek, timeout: timeout)
        if let last = messages.last { offsets.withLock { $0.peeked = last.offset } }
        return messages
    }

    /// Marks everything peeked so far as consumed. Sluice already removed it when it was
    /// peeked, so this only moves `committedOffset`; it is kept for interface compatibility.
    public func commit() {
        offsets.withLock { $0.committed = $0.peeked }
    }

    /// The offset of the last message committed, or -1.
    public var committedOffset: Int64 { offsets.withLock { $0.committed } }

    /// Messages received and not yet peeked.
    public var backlog: Int { inbox.count }

    /// Stops consuming; for broadcast topics, unsubscribes.
    public func close() { provider.removeConsumer(topic) }
}
