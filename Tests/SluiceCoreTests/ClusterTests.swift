import SluiceCore
import SluiceProtocol
import Testing

/// docs/PROTOCOL.md §9: what a broker of a cluster tells the sessions that sent CLUSTER.
@Suite("Cluster sessions (§9)")
struct ClusterTests {
    static let members = [
        ClusterMember(brokerID: "b1", incarnation: 11, state: .serving, controllerEndpoint: "tcp://h:1", invokerEndpoint: "tcp://h:2"),
        ClusterMember(brokerID: "b2", incarnation: 22, state: .serving, controllerEndpoint: "tcp://h:3", invokerEndpoint: "tcp://h:4"),
    ]

    static func clusterHarness(persistOverflow: Bool = false) -> Harness {
        var configuration = BrokerConfiguration()
        configuration.brokerID = "b1"
        configuration.incarnation = 11
        configuration.persistOverflow = persistOverflow
        return Harness(configuration: configuration)
    }

    /// The messages of one kind the peer on `connection` received, in order.
    static func sent(_ observed: Observed, to connection: String) -> [Message] {
        observed.actions.compactMap {
            if case .send(_, let route, let message, _) = $0, routeName(route) == connection { return message }
            return nil
        }
    }

    @Test("A broker on its own answers CLUSTER with unknownCommand naming §9, as before CLUSTER existed")
    func aloneRefusesCluster() {
        var h = Harness()
        h.controllerHello("c1")
        let reply = h.receive(.controller, from: "c1", .cluster)
        #expect(reply.errors(to: "c1").map(\.code) == [.unknownCommand])
        #expect(reply.errors(to: "c1").first?.report.reason.contains("§9") == true)
        // Its heartbeats stay plain.
        let beats = h.advance(by: .seconds(2))
        #expect(Self.sent(beats, to: "c1").allSatisfy { $0 == .heartbeat })
    }

    @Test("CLUSTER is answered with MEMBERS then the room; later heartbeats carry the room; member changes reach every cluster session")
    func membersAndRoom() {
        var h = Self.clusterHarness()
        h.handle(.membersChanged(Self.members))
        h.invokerHello("i1", slots: 4)
        h.controllerHello("c1")
        h.controllerHello("plain")
        let reply = h.receive(.controller, from: "c1", .cluster)
        #expect(Self.sent(reply, to: "c1") == [
            .members(Members(incarnation: 11, members: Self.members)),
            .roomHeartbeat(Room(freeSlots: 4, waiting: 0, slots: 4)),
        ])
        h.receive(.invoker, from: "i1", .cluster)

        h.activate("a1", from: "c1")
        let beats = h.advance(by: .seconds(1))
        #expect(Self.sent(beats, to: "c1").contains(.roomHeartbeat(Room(freeSlots: 3, waiting: 0, slots: 4))), "one slot taken by a1")
        #expect(Self.sent(beats, to: "i1").contains(.roomHeartbeat(Room(freeSlots: 3, waiting: 0, slots: 4))))
        #expect(Self.sent(beats, to: "plain").allSatisfy { $0 == .heartbeat }, "a session without CLUSTER sees SLU/1 as before")

        var changed = Self.members
        changed[1].state = .leaving
        let news = h.handle(.membersChanged(changed))
        #expect(Self.sent(news, to: "c1") == [.members(Members(incarnation: 11, members: changed))])
        #expect(Self.sent(news, to: "i1") == [.members(Members(incarnation: 11, members: changed))])
        #expect(Self.sent(news, to: "plain").isEmpty)

        // A new connection is a new session: it is not in the cluster until it says CLUSTER.
        h.controllerHello("c1", connection: "c1-again")
        let after = h.handle(.membersChanged(Self.members))
        #expect(Self.sent(after, to: "c1-again").isEmpty)
        #expect(Self.sent(after, to: "c1").isEmpty, "the old connection's session is over")
    }

    @Test("RECOVERED lists the recovered work not answered yet, before MEMBERS; answered work drops out of it")
    func recoveredBeforeMembers() {
        var h = Self.clusterHarness(persistOverflow: true)
        h.handle(Harness.recovered(["r0", "r1", "r2"], for: "c1", waited: .seconds(1)))
        h.invokerHello("i1", slots: 1)
        #expect(h.log.dispatchedIDs == ["r0"])
        h.complete("r0", on: "i1")
        // c1 comes back: r0's answer was kept for it and arrives after WELCOME, as in §6.4.
        let hello = h.controllerHello("c1")
        #expect(hello.answers(to: "c1").map(\.activationID) == ["r0"])
        let reply = h.receive(.controller, from: "c1", .cluster)
        let messages = Self.sent(reply, to: "c1")
        #expect(messages.first == .recovered(Recovered(incarnation: 11, activationIDs: ["r1", "r2"])))
        #expect(messages.dropFirst().first.map { if case .members = $0 { true } else { false } } == true)
        // Another controller's CLUSTER lists nothing of c1's.
        h.controllerHello("c2")
        #expect(!Self.sent(h.receive(.controller, from: "c2", .cluster), to: "c2").contains { if case .recovered = $0 { true } else { false } })
    }

    @Test("RECOVERED is split so that each message stays within max-message, every id once, in order")
    func recoveredChunks() {
        var configuration = BrokerConfiguration()
        configuration.incarnation = 5
        configuration.persistOverflow = true
        configuration.maxMessageBytes = 4096
        var h = Harness(configuration: configuration)
        let ids = (0..<200).map { String(format: "a%03d-", $0) + String(repeating: "x", count: 100) }
        h.handle(Harness.recovered(ids, for: "c1", waited: .zero))
        h.controllerHello("c1")
        let parts = Self.sent(h.receive(.controller, from: "c1", .cluster), to: "c1").compactMap { message -> Recovered? in
            if case .recovered(let recovered) = message { return recovered }
            return nil
        }
        #expect(parts.count > 1)
        #expect(parts.flatMap(\.activationIDs) == ids)
        for part in parts {
            #expect(Codec.encode(.recovered(part)).map { $0.count }.reduce(0, +) <= 4096)
        }
    }
}

@Suite("Namespace limits across a cluster")
struct ClusterLimitTests {
    @Test("Each broker enforces its share of a namespace limit by slots, rounded up; alone it enforces all of it")
    func limitShare() {
        var configuration = BrokerConfiguration()
        configuration.incarnation = 1
        configuration.namespaceConcurrencyLimit = 10
        var h = Harness(configuration: configuration)
        h.invokerHello("i1", slots: 8)
        h.controllerHello("c1")
        // 8 slots here, 24 elsewhere: a quarter of 10, rounded up, is 3.
        h.handle(.otherMembersSlots(24))
        for n in 0..<5 { h.activate("a\(n)") }
        #expect(h.log.dispatchedIDs == ["a0", "a1", "a2"], "the rest wait for the namespace")
        #expect(h.core.waitingCount == 2)
        // The others leave: this broker is alone and its share is the whole limit.
        let alone = h.handle(.otherMembersSlots(0))
        #expect(alone.dispatchedIDs == ["a3", "a4"])
    }
}
