import Foundation
import SluiceCluster
import SluiceEtcd
import SluiceTestKit
import Testing

/// Broker membership in etcd (docs/CLUSTER.md), against a real etcd on loopback.
@Suite("Cluster membership in etcd", .serialized, .timeLimit(.minutes(3)))
struct MembershipTests {
    func member(_ id: String, _ client: EtcdClient, cluster: String = "t") -> ClusterMembership {
        ClusterMembership(client: client, cluster: cluster,
                          record: BrokerRecord(id: id, controllerEndpoint: "tcp://127.0.0.1:1\(id.count)", invokerEndpoint: "tcp://127.0.0.1:2"),
                          ttl: 2, keepAliveEvery: .milliseconds(500))
    }

    /// A fresh etcd, a client, and started members with these ids.
    func cluster(_ ids: [String], timeout: Duration = .seconds(5)) async throws -> (EtcdServer, EtcdClient, [ClusterMembership]) {
        let server = try EtcdServer()
        let client = EtcdClient(endpoints: [server.clientURL], timeout: timeout)
        try await server.ready(client)
        let members = ids.map { member($0, client) }
        for member in members { try await member.start() }
        return (server, client, members)
    }

    /// Waits (reading state, 50 ms apart) until `condition` holds; returns how long it took.
    @discardableResult
    func waitFor(_ what: String, timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws -> Duration {
        let start = ContinuousClock.now
        try await waitUntil(what, timeout: timeout) { condition() }
        return start.duration(to: .now)
    }

    @Test("Three brokers see each other; a crashed one vanishes from the others' view after its lease's TTL")
    func crashVanishes() async throws {
        let (server, _, members) = try await cluster(["a", "b", "c"])
        _ = server
        defer { members.forEach { $0.stop() } }
        try await waitFor("every broker sees three") { members.allSatisfy { $0.members.map(\.id) == ["a", "b", "c"] } }
        #expect(members[0].members.first { $0.id == "b" }?.incarnation == members[1].record.incarnation)

        members[2].stop()   // a crash: no leave, no revoke
        let gone = try await waitFor("c gone from a's and b's view") {
            members[0].members.map(\.id) == ["a", "b"] && members[1].members.map(\.id) == ["a", "b"]
        }
        print("membership: a crashed broker left the others' view after \(gone) (lease TTL 2 s)")
        #expect(gone < .seconds(8), "the TTL is 2 s; etcd's granularity adds a little")
        #expect(members[0].etcdReachable)
    }

    @Test("A broker that leaves is gone at once (its lease revoked), and says it was leaving")
    func gracefulLeave() async throws {
        let (server, client, joined) = try await cluster(["a", "b"])
        let (a, b) = (joined[0], joined[1])
        _ = (server, client)
        defer { a.stop() }
        try await waitFor("a sees b") { a.members.count == 2 }
        var sawLeaving = false
        let watcher = Task {
            for await list in a.changes() {
                if list.contains(where: { $0.id == "b" && $0.state == .leaving }) { sawLeaving = true }
                if !list.contains(where: { $0.id == "b" }) { return sawLeaving }
            }
            return sawLeaving
        }
        let started = ContinuousClock.now
        await b.leave()
        #expect(await watcher.value, "a saw b leaving before it went")
        #expect(started.duration(to: .now) < .seconds(2), "a revoked lease removes the record at once")
        #expect(a.members.map(\.id) == ["a"])
    }

    @Test("An invoker is claimed by one broker; when that broker dies, another can claim it")
    func invokerOwnership() async throws {
        let (server, client, joined) = try await cluster(["a", "b"])
        let (a, b) = (joined[0], joined[1])
        _ = (server, client)
        defer { b.stop() }
        #expect(try await a.claimInvoker("inv-1"))
        #expect(try await a.claimInvoker("inv-1"), "claiming one's own invoker again is fine")
        #expect(try await b.claimInvoker("inv-1") == false)
        #expect(try await b.owner(ofInvoker: "inv-1") == "a")
        a.stop()
        try await waitFor("a's claim expired with its lease") { b.members.map(\.id) == ["b"] }
        #expect(try await b.claimInvoker("inv-1"))
        #expect(try await b.owner(ofInvoker: "inv-1") == "b")
    }

    @Test("etcd down: brokers keep their last view and say etcd is unreachable; etcd back: all rejoin")
    func etcdOutage() async throws {
        let (server, client, joined) = try await cluster(["a", "b"], timeout: .seconds(1))
        let (a, b) = (joined[0], joined[1])
        defer { a.stop(); b.stop() }
        try await waitFor("both see two") { a.members.count == 2 && b.members.count == 2 }

        server.kill()
        try await waitFor("a notices etcd is gone") { !a.etcdReachable }
        #expect(a.members.map(\.id) == ["a", "b"], "the last view is kept")
        #expect(b.members.map(\.id) == ["a", "b"])

        try server.launch()
        try await server.ready(client)
        let back = try await waitFor("both reachable and both listed again", timeout: .seconds(30)) {
            a.etcdReachable && b.etcdReachable && a.members.map(\.id) == ["a", "b"] && b.members.map(\.id) == ["a", "b"]
        }
        print("membership: after etcd came back, both brokers were listed and reachable within \(back)")
        let listed = try await client.range(prefix: "/sluice/t/brokers/").map(\.key)
        #expect(listed == ["/sluice/t/brokers/a", "/sluice/t/brokers/b"])
    }

    @Test("A lease lost while the broker lives (etcd forgot it, or revoked it): the broker registers again with its claims")
    func lostLeaseRejoins() async throws {
        let (server, client, joined) = try await cluster(["a", "b"])
        let (a, b) = (joined[0], joined[1])
        _ = (server, client)
        defer { a.stop(); b.stop() }
        #expect(try await a.claimInvoker("inv-7"))
        let entry = try #require(try await client.get("/sluice/t/brokers/a"))
        try await client.revoke(EtcdLease(id: entry.lease, ttl: 2))
        // The revoke takes the record (and the claim) at once; a's next keepalive finds its
        // lease gone and registers again.
        try await waitUntil("a registered again under a new lease") {
            let again = try await client.get("/sluice/t/brokers/a")
            return again != nil && again?.lease != entry.lease
        }
        try await waitFor("b sees a again") { b.members.map(\.id) == ["a", "b"] && a.etcdReachable }
        #expect(try await b.owner(ofInvoker: "inv-7") == "a", "its invoker claim was taken again")
    }
}
