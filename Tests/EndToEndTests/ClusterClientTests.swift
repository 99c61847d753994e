import Foundation
import SluiceClient
import SluiceProtocol
import SluiceTestKit
import Synchronization
import Testing

/// A controller in cluster mode (docs/PROTOCOL.md §9) against real cluster brokers and etcd.
extension BrokerEndToEndTests {
    /// Collects a client's streamed answers, by kind, off the test's task.
    final class AnswerTally: Sendable {
        final class Store: Sendable { let answers = Mutex<[ControllerAnswer]>([]) }
        let store = Store()
        let task: Task<Void, Never>

        init(_ client: ControllerClient) {
            let store = store
            task = Task { for await answer in client.answers { store.answers.withLock { $0.append(answer) } } }
        }

        var count: Int { store.answers.withLock { $0.count } }
        var kinds: [AnswerKind: Int] { store.answers.withLock { Dictionary($0.map { ($0.kind, 1) }, uniquingKeysWith: +) } }
        var ids: [String] { store.answers.withLock { $0.map(\.activationID) } }
    }

    @Test("Cluster controller: MEMBERS and room arrive; a SIGKILLed broker's activations are all answered brokerLost at once, once each")
    func brokerLostOnKill() async throws {
        let etcd = try EtcdServer()
        try await etcdReady(etcd)
        let url = etcd.clientURL.absoluteString
        let b1 = try BrokerProcess(["--cluster", "lost", "--etcd", url, "--broker-id", "b1"])
        let b2 = try BrokerProcess(["--cluster", "lost", "--etcd", url, "--broker-id", "b2"])
        defer { _ = try? b2.stop() }
        let invoker = try startInvoker(b1, id: "slow", slots: 8, duration: "60s")
        defer { invoker.signal(SIGKILL) }
        try await b1.waitForInvokers(["slow"])

        let controller = try ControllerClient(id: "ctl", endpoint: b1.controllerEndpoint, answerTimeout: .seconds(120), cluster: true)
        controller.start()
        let tally = AnswerTally(controller)
        defer { tally.task.cancel() }
        try await waitUntil("MEMBERS lists both brokers and the room counts the invoker's 8 slots", timeout: .seconds(20)) {
            let view = controller.cluster
            return view.members.map(\.brokerID).sorted() == ["b1", "b2"] && view.estimate.room?.slots == 8 && view.incarnation != nil
        }
        #expect(controller.cluster.brokerID == "b1")
        #expect(controller.cluster.members.allSatisfy { $0.state == .serving })

        controller.submit((0..<8).map { (RoutingHeader(activationID: "held\($0)", namespace: "guest", action: "guest/slow"), [0]) })
        try await b1.waitForStatus("all 8 run on the invoker") { $0.gauges.inFlight == 8 }
        #expect(controller.cluster.estimate.estimatedRoom <= 0, "the estimate counts what was sent since the last room")

        let killedAt = ContinuousClock.now
        b1.child.signal(SIGKILL)
        try await waitUntil("every held activation answered", timeout: .seconds(30)) { tally.count == 8 }
        let took = killedAt.duration(to: .now)
        #expect(tally.kinds == [.brokerLost: 8])
        #expect(Set(tally.ids) == Set((0..<8).map { "held\($0)" }))
        #expect(controller.cluster.answeredBrokerLost == 8)
        #expect(controller.pendingCount == 0)
        print("cluster: a SIGKILLed broker's 8 activations were answered brokerLost \(took) after the kill (liveness window 3 s)")
        await controller.close()
    }

    @Test("A broker restarted on its endpoint is a new incarnation: what the old one held is answered brokerLost once; the restart rejoins at once")
    func brokerLostOnRestart() async throws {
        let etcd = try EtcdServer()
        try await etcdReady(etcd)
        let url = etcd.clientURL.absoluteString
        let arguments = ["--cluster", "restart", "--etcd", url, "--broker-id", "b1"]
        let first = try BrokerProcess(arguments)
        let invoker = try startInvoker(first, id: "slow", slots: 4, duration: "3s")
        defer { invoker.signal(SIGKILL) }
        try await first.waitForInvokers(["slow"])
        let controller = try ControllerClient(id: "ctl", endpoint: first.controllerEndpoint, answerTimeout: .seconds(120), cluster: true)
        controller.start()
        let tally = AnswerTally(controller)
        defer { tally.task.cancel() }
        try await waitUntil("the first incarnation is known", timeout: .seconds(20)) { controller.cluster.incarnation != nil }
        let oldIncarnation = try #require(controller.cluster.incarnation)
        controller.submit((0..<4).map { (RoutingHeader(activationID: "old\($0)", namespace: "guest", action: "guest/slow"), [0]) })
        try await first.waitForStatus("all 4 run") { $0.gauges.inFlight == 4 }

        first.child.signal(SIGKILL)
        #expect(first.child.waitForExit(timeout: .seconds(10)) != nil)
        // Same endpoints, same id: the record of the dead incarnation is taken over, not waited out.
        let second = try BrokerProcess(arguments, controllerEndpoint: first.controllerEndpoint, invokerEndpoint: first.invokerEndpoint)
        defer { _ = try? second.stop() }
        try await waitUntil("every held activation answered", timeout: .seconds(30)) { tally.count == 4 }
        #expect(tally.kinds == [.brokerLost: 4])
        try await waitUntil("the new incarnation is known", timeout: .seconds(20)) {
            controller.cluster.incarnation.map { $0 != oldIncarnation } ?? false
        }
        // The restarted broker takes new work from the same client.
        try await second.waitForInvokers(["slow"])
        let after = await controller.invoke(RoutingHeader(activationID: "new0", namespace: "guest", action: "guest/slow"), payload: [1])
        #expect(after.kind == .success, "answered by the new incarnation: \(after)")
        #expect(tally.kinds == [.brokerLost: 4], "nothing answered twice")
        await controller.close()
    }
}
