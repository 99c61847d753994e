import Foundation
import SluiceMessaging
import SluiceOpenWhisk
import SluiceTestKit
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

    @Test("Topic facade: a broker-decided answer arrives on completed<C> as a combined acknowledgement OpenWhisk accepts: the record says why, the booked invoker is named, health is not charged")
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
        #expect((acknowledgement["transid"] as? [Any])?.first as? String == "tid-\(hexID(42))", "the transaction of the sent message")
        #expect(acknowledgement["isSystemError"] as? Bool == false, "not the invoker's fault")
        let instance = try #require(acknowledgement["instance"] as? [String: Any])
        #expect(instance["instance"] as? Int == 3, "the invoker OpenWhisk booked it on, so its slot is released")
        #expect(instance["tags"] as? [Any] != nil && instance["dedicatedNamespaces"] as? [Any] != nil)
        let record = try #require(acknowledgement["response"] as? [String: Any])
        #expect(record["activationId"] as? String == hexID(42))
        let response = try #require(record["response"] as? [String: Any])
        #expect(response["statusCode"] as? Int == 1)
        #expect((((response["result"] as? [String: Any])?["error"]) as? String)?.contains("invoker3") == true, "the reason")
        // Sluice's own acknowledgement reader takes it as a combined acknowledgement.
        let parsed = try AcknowledgementAdapter.parse(message.bytes)
        #expect(parsed.acknowledgement.activationID == hexID(42))
        #expect(parsed.statusCode == 1)
    }

    @Test("Topic facade: a split acknowledgement (result, later completion) reaches OpenWhisk's controller as both: one answer, then the completion that frees the slot")
    func topicFacadeSplitAcknowledgement() async throws {
        let broker = try BrokerProcess()
        let controller = try SluiceMessagingProvider(role: .controller(id: "0"), endpoint: broker.controllerEndpoint)
        let invoker = try SluiceMessagingProvider(role: .invoker(instance: 2, memoryMB: 2048, slots: 4), endpoint: broker.invokerEndpoint)
        defer { [controller, invoker].forEach { $0.close() } }
        #expect(await controller.start())
        #expect(await invoker.start())
        let completed = try await controller.consumer(topic: "completed0")
        let feed = try await invoker.consumer(topic: "invoker2")
        try await controller.producer().send(topic: "invoker2", activationMessage(hexID(7)))
        #expect(await feed.peek(timeout: .seconds(10)).count == 1)

        let result = Array("""
        {"transid":["tid-\(hexID(7))",1700000000000],"response":{"activationId":"\(hexID(7))","namespace":"guest","name":"hello",\
        "subject":"guest","start":1,"end":2,"response":{"statusCode":0,"result":{"ok":true}},"logs":[],"version":"0.0.1","publish":false,"annotations":[]}}
        """.utf8)
        try await invoker.producer().send(topic: "completed0", result)
        #expect(await completed.peek(timeout: .seconds(10)).map(\.bytes) == [result], "the result releases the caller, unchanged")

        let completion = Array("""
        {"transid":["tid-\(hexID(7))",1700000000000],"activationId":"\(hexID(7))","isSystemError":false,\
        "instance":{"instance":2,"userMemory":"2048 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}}
        """.utf8)
        try await invoker.producer().send(topic: "completed0", completion)
        let second = try #require(await completed.peek(timeout: .seconds(10)).first, "the completion follows")
        let parsed = try AcknowledgementAdapter.parse(second.bytes)
        #expect(parsed.acknowledgement == .completion(activationID: hexID(7), isSystemError: false))
        #expect(parsed.invokerInstance == 2)
        #expect((try json(second.bytes)["transid"] as? [Any])?.first as? String == "tid-\(hexID(7))")
        let settled = try await broker.waitForStatus("the completion freed the slot") { $0.gauges.inFlight == 0 && $0.counters["dispatched"] == 1 }
        #expect(settled.counters["answered"] == 1, "one answer per activation; the completion is a notice")
    }

    @Test("Topic facade: a message over the broker's max-message fails the send with a clear error, and the session goes on")
    func topicFacadeOversize() async throws {
        let broker = try BrokerProcess(["--max-message-bytes", "65536"])
        let controller = try SluiceMessagingProvider(role: .controller(id: "0"), endpoint: broker.controllerEndpoint)
        let invoker = try SluiceMessagingProvider(role: .invoker(instance: 0, memoryMB: 2048, slots: 4), endpoint: broker.invokerEndpoint)
        defer { [controller, invoker].forEach { $0.close() } }
        #expect(await controller.start())
        #expect(await invoker.start())
        let completed = try await controller.consumer(topic: "completed0")
        let feed = try await invoker.consumer(topic: "invoker0")
        try await controller.producer().send(topic: "invoker0", activationMessage(hexID(1)))
        #expect(await feed.peek(timeout: .seconds(10)).count == 1)

        let big = Array("""
        {"transid":["tid-\(hexID(1))",1700000000000],"response":{"activationId":"\(hexID(1))","namespace":"guest","name":"hello",\
        "response":{"statusCode":0,"result":{"blob":"\(String(repeating: "x", count: 70_000))"}}},"isSystemError":false,\
        "instance":{"instance":0,"userMemory":"2048 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}}
        """.utf8)
        let error = await #expect(throws: MessagingError.self) { try await invoker.producer().send(topic: "completed0", big) }
        #expect(error?.problem.contains("65536") == true && error?.problem.contains("shrink") == true, "\(String(describing: error))")
        // OpenWhisk shrinks it (the response becomes the id) and sends again, on the same session.
        let shrunk = Array("""
        {"transid":["tid-\(hexID(1))",1700000000000],"response":"\(hexID(1))","isSystemError":false,\
        "instance":{"instance":0,"userMemory":"2048 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}}
        """.utf8)
        try await invoker.producer().send(topic: "completed0", shrunk)
        #expect(await completed.peek(timeout: .seconds(10)).map(\.bytes) == [shrunk])
        let status = try await broker.waitForStatus("the shrunk acknowledgement answered it") { $0.counters["answered"] == 1 }
        #expect(status.counters["protocol_errors"] == 0, "nothing oversize reached the broker")
        #expect(status.invokers.map(\.id) == ["invoker0"], "the invoker's session went on")
        #expect(status.counters["invokers_lost"] == 0)
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
        // A ping reaches both controllers unchanged. A publication can overtake the SUBSCRIBE
        // that makes it heard (they travel on different connections), so it is sent until both
        // have heard one; every one heard is the ping, byte for byte.
        var pings: [[[UInt8]]] = [[], []]
        try await waitUntil("both controllers hear a ping", timeout: .seconds(10), every: .milliseconds(1)) {
            try await invoker.producer().send(topic: "health", ping(0, enabled: true))
            for index in 0..<2 { pings[index] += await health[index].peek(timeout: .milliseconds(100)).map(\.bytes) }
            return pings.allSatisfy { !$0.isEmpty }
        }
        #expect(pings.joined().allSatisfy { $0 == ping(0, enabled: true) })
        // A controller's cache invalidation reaches both controllers (itself included).
        let invalidation = Array(#"{"key":"guest/hello"}"#.utf8)
        var heard: [[[UInt8]]] = [[], []]
        try await waitUntil("both controllers hear the invalidation", timeout: .seconds(10), every: .milliseconds(1)) {
            try await controllers[0].producer().send(topic: "cacheInvalidation", invalidation)
            for index in 0..<2 { heard[index] += await cache[index].peek(timeout: .milliseconds(100)).map(\.bytes) }
            return heard.allSatisfy { !$0.isEmpty }
        }
        #expect(heard.joined().allSatisfy { $0 == invalidation })

        // Drained: new work waits; enabled again: it is delivered.
        try await invoker.producer().send(topic: "health", ping(0, enabled: false))
        try await broker.waitForStatus("invoker0 drained") { $0.invokers.first?.state == "draining" }
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
