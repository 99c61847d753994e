import Foundation
import SluiceClient
import SluiceProtocol
import SluiceTestKit
import Testing

extension BrokerEndToEndTests {
    @Test("Broker restart: invoker and controller clients re-announce themselves and work flows again")
    func brokerRestart() async throws {
        let first = try BrokerProcess(["--heartbeat-interval", "200ms"])
        // The second broker must listen where the clients already point.
        let controllerEndpoint = first.controllerEndpoint
        let invokerEndpoint = first.invokerEndpoint

        let received = Locked<[String]>([])
        let holder = InvokerHolder()
        let invoker = try InvokerClient(id: "restart-invoker", endpoint: invokerEndpoint, memoryMB: 1024, slots: 4) { activation in
            received.withLock { $0.append(activation.header.activationID) }
            holder.client?.complete(activationID: activation.header.activationID,
                                    result: (.success, Array("ran:\(activation.header.activationID)".utf8)))
        }
        holder.client = invoker
        invoker.start()
        defer { invoker.closeBlocking() }
        let controller = try ControllerClient(id: "restart-controller", endpoint: controllerEndpoint, answerTimeout: .seconds(5))
        controller.start()
        defer { controller.closeBlocking() }
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))

        let before = await controller.invoke(RoutingHeader(activationID: "before", namespace: "guest", action: "guest/a"), payload: [1])
        #expect(before.kind == .success)
        #expect(before.result == Array("ran:before".utf8))

        // The broker dies without a word; a new one comes up on the same endpoints.
        first.child.signal(SIGKILL)
        #expect(first.child.waitForExit(timeout: .seconds(10)) != nil)
        let second = try BrokerProcess(["--heartbeat-interval", "200ms"],
                                       controllerEndpoint: controllerEndpoint, invokerEndpoint: invokerEndpoint)

        // Neither client is known to the new broker. They must say HELLO again by themselves
        // (on `notRegistered`, or when the old broker's silence ends the session): the test
        // waits until the new broker's status shows both, then one activation runs.
        try await second.waitForStatus(timeout: .seconds(30), "both clients registered with the new broker") { status in
            status.invokers.contains { $0.id == "restart-invoker" }
                && status.controllers.contains { $0.id == "restart-controller" && $0.connected }
        }
        let success = await controller.invoke(RoutingHeader(activationID: "after", namespace: "guest", action: "guest/a"), payload: [2])
        #expect(success.kind == .success, "after the restart: \(success.kind) \(success.header.reason)")
        #expect(success.header.invokerID == "restart-invoker")
        #expect(success.result == Array("ran:\(success.activationID)".utf8))
        #expect(received.withLock { $0.contains(success.activationID) })

        let counters = try second.stop()
        #expect((counters["answered_success"] ?? 0) >= 1)
    }
}

extension BrokerEndToEndTests {
    @Test("A drained invoker stays drained through a broker restart: its HELLO says 0/0, and it gets work only after CAPACITY")
    func drainSurvivesRestart() async throws {
        let first = try BrokerProcess(["--heartbeat-interval", "200ms"])
        let controllerEndpoint = first.controllerEndpoint
        let invokerEndpoint = first.invokerEndpoint
        let received = Locked<[String]>([])
        let holder = InvokerHolder()
        let invoker = try InvokerClient(id: "drain-invoker", endpoint: invokerEndpoint, memoryMB: 1024, slots: 4) { activation in
            received.withLock { $0.append(activation.header.activationID) }
            holder.client?.complete(activationID: activation.header.activationID, result: (.success, [1]))
        }
        holder.client = invoker
        invoker.start()
        defer { invoker.closeBlocking() }
        let controller = try ControllerClient(id: "drain-controller", endpoint: controllerEndpoint, answerTimeout: .seconds(2))
        controller.start()
        defer { controller.closeBlocking() }
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        #expect(await invoker.waitUntilWelcomed(timeout: .seconds(10)))
        #expect(await controller.invoke(RoutingHeader(activationID: "before", namespace: "guest", action: "guest/a"), payload: [1]).kind == .success)

        invoker.updateCapacity(memoryMB: 0, slots: 0)
        try await first.waitForStatus("the first broker heard the drain") {
            $0.invokers.first { $0.id == "drain-invoker" }?.state == "draining"
        }
        first.child.signal(SIGKILL)
        #expect(first.child.waitForExit(timeout: .seconds(10)) != nil)
        let second = try BrokerProcess(["--heartbeat-interval", "200ms", "--log-level", "info"],
                                       controllerEndpoint: controllerEndpoint, invokerEndpoint: invokerEndpoint)
        // The new broker must hear the drain in the HELLO itself.
        try await second.waitForStatus("the invoker re-registers drained, in its HELLO") { status in
            status.invokers.first { $0.id == "drain-invoker" }.map { $0.memoryMb == 0 && $0.slots == 0 && $0.state == "draining" } ?? false
        }

        // The controller re-registers on its own (it may need its next heartbeat to learn of
        // the restart); an ACTIVATE before that would be refused notRegistered.
        try await second.waitForStatus("the controller re-registers") {
            $0.controllers.contains { $0.id == "drain-controller" && $0.connected }
        }
        let waiting = await controller.invoke(RoutingHeader(activationID: "while-drained", namespace: "guest", action: "guest/a"), payload: [2])
        #expect(waiting.kind == .timeout, "\(waiting.kind): \(waiting.header.reason)")
        #expect(received.withLock { $0 } == ["before"], "a drained invoker got work: \(received.withLock { $0 })")

        // Capacity back: the activation that waited runs now (its answer comes after the
        // client's own timeout and is dropped there, not delivered twice).
        invoker.updateCapacity(memoryMB: 1024, slots: 4)
        try await waitUntil("the activation that waited ran", timeout: .seconds(10)) { received.withLock { $0.contains("while-drained") } }
        #expect(received.withLock { $0 } == ["before", "while-drained"])
        _ = try second.stop()
    }
}

final class InvokerHolder: @unchecked Sendable {
    // Written once before start(); read afterwards on the client's thread.
    var client: InvokerClient?
}

final class Locked<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

extension BrokerEndToEndTests {
    @Test("Client-side timeout: exactly one answer, and the broker's late answer is dropped, not delivered twice")
    func clientTimeoutDropsLateAnswer() async throws {
        let broker = try BrokerProcess()
        let invoker = try startInvoker(broker, id: "slow", slots: 2, duration: "1500ms-1500ms")
        defer { invoker.signal(SIGKILL) }
        let controller = try ControllerClient(id: "impatient", endpoint: broker.controllerEndpoint, answerTimeout: .milliseconds(300))
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        try await broker.waitForInvokers(["slow"])
        controller.submit([(RoutingHeader(activationID: "late-1", namespace: "guest", action: "guest/slow",
                                          memoryMB: 128, timeLimitMilliseconds: 10_000), [1])])
        let answers = Locked<[ControllerAnswer]>([])
        let reader = Task {
            for await answer in controller.answers { answers.withLock { $0.append(answer) } }
        }
        // The client answers `timeout` after 300 ms; the broker's success follows when the
        // invoker completes (1.5 s), and the client drops it.
        try await waitUntil("the broker's late answer reached the client", timeout: .seconds(30)) {
            controller.lateAnswersDropped >= 1 && !answers.withLock(\.isEmpty)
        }
        await controller.close()
        reader.cancel()
        _ = await reader.value
        let received = answers.withLock { $0 }
        #expect(received.map(\.activationID) == ["late-1"], "exactly one answer: \(received)")
        #expect(received.first?.kind == .timeout)
        #expect(controller.lateAnswersDropped == 1, "the broker's success came later and was dropped")
        let counters = try broker.stop()
        #expect(counters["answered_success"] == 1, "the broker did answer, late")
    }
}
