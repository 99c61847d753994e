import Foundation
import SluiceMessaging
import SluiceOpenWhisk
import Testing

// The MessagingProvider-shaped facade (docs/TOPICS.md) against the real broker.

private func activationMessage(_ id: String, controller: String = "0", action: String = "hello") -> [UInt8] {
    Array("""
    {"transid":["tid-\(id)",1700000000000],"action":{"path":"guest","name":"\(action)","version":"0.0.1"},\
    "revision":"1-abc","user":{"subject":"guest","namespace":{"name":"guest","uuid":"u"},"authkey":{"api_key":"k"},\
    "rights":[],"limits":{}},"activationId":"\(id)","rootControllerIndex":{"asString":"\(controller)","instanceType":"controller"},\
    "blocking":true,"content":{"n":1}}
    """.utf8)
}

private func combinedAcknowledgement(_ id: String, instance: Int) -> [UInt8] {
    Array("""
    {"transid":["tid-\(id)",1700000000000],"response":{"activationId":"\(id)","namespace":"guest","name":"hello",\
    "response":{"statusCode":0,"result":{"ok":true}}},"isSystemError":false,\
    "instance":{"instance":\(instance),"userMemory":"2048 MB","instanceType":"invoker"}}
    """.utf8)
}

private func ping(_ instance: Int, enabled: Bool) -> [UInt8] {
    Array(#"{"name":{"instance":\#(instance),"userMemory":"2048 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]},"isEnabled":\#(enabled)}"#.utf8)
}

private func hexID(_ n: Int) -> String { String(format: "%032x", n) }

private func json(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}

extension BrokerEndToEndTests {
    @Test("Topic facade: invoker<N> reaches exactly invoker N; its acknowledgement comes back on completed<C> unchanged")
    func topicFacadeRoundTrip() async throws {
        let broker = try BrokerProcess()
        let controller = try SluiceMessagingProvider(role: .controller(id: "0"), endpoint: broker.controllerEndpoint)
        let invokers = try (0..<2).map {
            try SluiceMessagingProvider(role: .invoker(instance: $0, memoryMB: 2048, slots: 8), endpoint: broker.invokerEndpoint)
        }
        defer { ([controller] + invokers).forEach { $0.close() } }
        #expect(await controller.start())
        for invoker in invokers { #expect(await invoker.start()) }
        #expect(throws: Never.self) { try controller.ensureTopic("invoker1").get() }
        #expect(throws: MessagingError.self) { try controller.ensureTopic("invokers").get() }

        let completed = try await controller.consumer(topic: "completed0", maxPeek: 10)
        let feeds = try await [invokers[0].consumer(topic: "invoker0"), invokers[1].consumer(topic: "invoker1")]
        let producer = controller.producer()

        // Six activations, all addressed to invoker 1.
        var receipts: [SendReceipt] = []
        for n in 0..<6 { receipts.append(try await producer.send(topic: "invoker1", activationMessage(hexID(n)))) }
        #expect(receipts.map(\.offset) == [0, 1, 2, 3, 4, 5])
        #expect(receipts.compactMap(\.activationID) == (0..<6).map(hexID))

        var delivered: [PeekedMessage] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while delivered.count < 6 && ContinuousClock.now < deadline {
            delivered += await feeds[1].peek(timeout: .milliseconds(500))
            feeds[1].commit()
        }
        #expect(delivered.map(\.bytes) == (0..<6).map { activationMessage(hexID($0)) }, "invoker 1 gets the ActivationMessage bytes unchanged, in order")
        #expect(delivered.map(\.offset) == [0, 1, 2, 3, 4, 5])
        #expect(feeds[1].committedOffset == 5)
        #expect(await feeds[0].peek(timeout: .milliseconds(200)).isEmpty, "invoker 0 got nothing")
        // At-most-once: peeked messages never come back.
        #expect(await feeds[1].peek(timeout: .milliseconds(200)).isEmpty)

        let invokerProducer = invokers[1].producer()
        for n in 0..<6 { try await invokerProducer.send(topic: "completed0", combinedAcknowledgement(hexID(n), instance: 1)) }
        var acknowledgements: [[UInt8]] = []
        let answerDeadline = ContinuousClock.now + .seconds(10)
        while acknowledgements.count < 6 && ContinuousClock.now < answerDeadline {
            acknowledgements += await completed.peek(timeout: .milliseconds(500)).map(\.bytes)
        }
        #expect(Set(acknowledgements) == Set((0..<6).map { combinedAcknowledgement(hexID($0), instance: 1) }),
                "the controller reads each acknowledgement exactly as the invoker wrote it")
        #expect(acknowledgements.count == 6)
    }

    @Test("Topic facade: broker-decided answers arrive on completed<C> as completion acknowledgements naming the kind")
    func topicFacadeSyntheticAcknowledgement() async throws {
        let broker = try BrokerProcess()
        let controller = try SluiceMessagingProvider(role: .controller(id: "7"), endpoint: broker.controllerEndpoint)
        defer { controller.close() }
        #expect(await controller.start())
        let completed = try await controller.consumer(topic: "completed7")
        // Invoker 3 is not connected: the broker rejects the activation.
        try await controller.producer().send(topic: "invoker3", activationMessage(hexID(42), controller: "7"))
        let messages = await completed.peek(timeout: .seconds(10))
        let message = try #require(messages.first)
        let acknowledgement = try json(message.bytes)
        #expect(acknowledgement["activationId"] as? String == hexID(42))
        #expect(acknowledgement["isSystemError"] as? Bool == true)
        #expect((acknowledgement["transid"] as? [Any])?.first as? String == "tid-\(hexID(42))", "the transaction of the sent message")
        let sluice = try #require(acknowledgement["sluice"] as? [String: Any])
        #expect(sluice["answer"] as? String == "rejected")
        #expect((sluice["reason"] as? String)?.contains("invoker3") == true)
        // OpenWhisk's own reader accepts it as a completion message.
        let parsed = try AcknowledgementAdapter.parse(message.bytes)
        #expect(parsed.acknowledgement == .completion(activationID: hexID(42), isSystemError: true))
    }

    @Test("Topic facade: health pings fan out to every controller; isEnabled false drains the invoker; broadcasts reach subscribers")
    func topicFacadeHealthAndBroadcast() async throws {
        let broker = try BrokerProcess()
        let controllers = try ["0", "1"].map {
            try SluiceMessagingProvider(role: .controller(id: $0, placement: .broker), endpoint: broker.controllerEndpoint)
        }
        let invoker = try SluiceMessagingProvider(role: .invoker(instance: 0, memoryMB: 2048, slots: 4), endpoint: broker.invokerEndpoint)
        defer { (controllers + [invoker]).forEach { $0.close() } }
        for controller in controllers { #expect(await controller.start()) }
        #expect(await invoker.start())
        let health = try await controllers.asyncMap { try await $0.consumer(topic: "health") }
        let cache = try await controllers.asyncMap { try await $0.consumer(topic: "cacheInvalidation") }
        let feed = try await invoker.consumer(topic: "invoker0")
        try await Task.sleep(for: .milliseconds(200))  // subscriptions reach the broker

        // A ping reaches both controllers unchanged.
        try await invoker.producer().send(topic: "health", ping(0, enabled: true))
        for consumer in health {
            #expect(await consumer.peek(timeout: .seconds(5)).map(\.bytes) == [ping(0, enabled: true)])
        }
        // A controller's cache invalidation reaches both controllers (itself included).
        try await controllers[0].producer().send(topic: "cacheInvalidation", Array(#"{"key":"guest/hello"}"#.utf8))
        for consumer in cache {
            #expect(await consumer.peek(timeout: .seconds(5)).map(\.bytes) == [Array(#"{"key":"guest/hello"}"#.utf8)])
        }

        // Drained: new work waits; enabled again: it is delivered.
        try await invoker.producer().send(topic: "health", ping(0, enabled: false))
        try await Task.sleep(for: .milliseconds(300))
        try await controllers[1].producer().send(topic: "invoker5", activationMessage(hexID(9), controller: "1"))
        #expect(await feed.peek(timeout: .milliseconds(700)).isEmpty, "a drained invoker gets no new work")
        try await invoker.producer().send(topic: "health", ping(0, enabled: true))
        #expect(await feed.peek(timeout: .seconds(5)).map(\.bytes) == [activationMessage(hexID(9), controller: "1")],
                "with placement .broker, invoker<N> lets the broker choose")

        // Wrong role or topic: clear errors.
        await #expect(throws: MessagingError.self) { try await invoker.producer().send(topic: "invoker0", activationMessage(hexID(1))) }
        await #expect(throws: MessagingError.self) { try await controllers[0].consumer(topic: "completed1") }
        await #expect(throws: MessagingError.self) { try await controllers[0].producer().send(topic: "invoker0", Array("{\"transid\":".utf8)) }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
