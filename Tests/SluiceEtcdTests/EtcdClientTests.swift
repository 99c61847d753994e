import Foundation
import SluiceEtcd
import SluiceTestKit
import Testing

typealias EtcdTestFailure = EtcdServer.Failure

extension EtcdServer {
    /// Waits until the member answers a read.
    func ready(_ client: EtcdClient) async throws {
        try await waitUntil("etcd answers a read", timeout: .seconds(30)) { (try? await client.range(prefix: "probe")) != nil }
    }

}

@Suite("etcd client against a real etcd", .serialized, .timeLimit(.minutes(2)))
struct EtcdClientTests {
    @Test("put, get, range over a prefix, delete; revisions grow")
    func keys() async throws {
        let server = try EtcdServer()
        let client = EtcdClient(endpoints: [server.clientURL])
        try await server.ready(client)
        let first = try await client.put("/sluice/test/brokers/a", "{\"x\":1}")
        let second = try await client.put("/sluice/test/brokers/b", "B")
        try await client.put("/sluice/test/brokersX", "outside the prefix")
        #expect(second > first)
        #expect(try await client.get("/sluice/test/brokers/a")?.value == "{\"x\":1}")
        let listed = try await client.range(prefix: "/sluice/test/brokers/")
        #expect(listed.map(\.key) == ["/sluice/test/brokers/a", "/sluice/test/brokers/b"])
        #expect(try await client.delete("/sluice/test/brokers/a") == 1)
        #expect(try await client.get("/sluice/test/brokers/a") == nil)
        #expect(try await client.delete("/sluice/test/brokers/a") == 0)
    }

    @Test("createIfAbsent succeeds once: the ownership rule of docs/CLUSTER.md")
    func createIfAbsent() async throws {
        let server = try EtcdServer()
        let client = EtcdClient(endpoints: [server.clientURL])
        try await server.ready(client)
        #expect(try await client.createIfAbsent("/sluice/test/invokers/i1", "broker-a"))
        #expect(try await client.createIfAbsent("/sluice/test/invokers/i1", "broker-b") == false)
        #expect(try await client.get("/sluice/test/invokers/i1")?.value == "broker-a")
    }

    @Test("Keys on a lease live while it is kept alive and vanish together when it is not")
    func leases() async throws {
        let server = try EtcdServer()
        let client = EtcdClient(endpoints: [server.clientURL])
        try await server.ready(client)
        let lease = try await client.grantLease(ttl: 2)
        #expect(lease.ttl >= 2)
        try await client.put("/sluice/test/brokers/a", "A", lease: lease)
        try await client.put("/sluice/test/invokers/i1", "a", lease: lease)
        #expect(try await client.get("/sluice/test/brokers/a")?.lease == lease.id)
        // Kept alive past its TTL: still there.
        let kept = ContinuousClock.now + .seconds(3)
        try await waitUntil("3 s of keepalives", every: .milliseconds(500)) {
            let ttl = try await client.keepAlive(lease)
            #expect(ttl >= 2)
            return ContinuousClock.now >= kept
        }
        #expect(try await client.get("/sluice/test/brokers/a") != nil)
        // No more keepalives: both keys go (etcd's granularity: within a few seconds of the TTL).
        try await waitUntil("the keys expire with their lease", every: .milliseconds(200)) {
            try await client.range(prefix: "/sluice/test/").isEmpty
        }
        await #expect(throws: EtcdError.self) { try await client.keepAlive(lease) }
    }

    @Test("A watch sees puts and deletes under its prefix, in order, and nothing outside it")
    func watch() async throws {
        let server = try EtcdServer()
        let client = EtcdClient(endpoints: [server.clientURL])
        try await server.ready(client)
        let start = try await client.put("/sluice/test/other", "x")
        let collected = Task { () -> [EtcdEvent] in
            var events: [EtcdEvent] = []
            for try await batch in client.watch(prefix: "/sluice/test/brokers/", after: start) {
                events += batch
                if events.count >= 3 { break }
            }
            return events
        }
        try await client.put("/sluice/test/brokers/a", "1")
        try await client.put("/sluice/test/elsewhere", "ignored")
        try await client.put("/sluice/test/brokers/a", "2")
        try await client.delete("/sluice/test/brokers/a")
        let events = try await collected.value
        #expect(events.map(\.kind) == [.put, .put, .delete])
        #expect(events.map(\.keyValue.value) == ["1", "2", ""])
        #expect(events.allSatisfy { $0.keyValue.key == "/sluice/test/brokers/a" })
    }

    @Test("A dead endpoint first in the list: calls go to the next; none alive: a clear error")
    func failover() async throws {
        let server = try EtcdServer()
        let dead = URL(string: "http://127.0.0.1:\(try freePort())")!
        let client = EtcdClient(endpoints: [dead, server.clientURL])
        try await server.ready(client)
        try await client.put("/sluice/test/k", "v")
        #expect(try await client.get("/sluice/test/k")?.value == "v")
        let lease = try await client.grantLease(ttl: 5)
        #expect(try await client.keepAlive(lease) > 0, "a streamed call fails over too")

        let nobody = EtcdClient(endpoints: [dead], timeout: .seconds(2))
        do {
            _ = try await nobody.get("/sluice/test/k")
            Issue.record("a call with no live endpoint succeeded")
        } catch {
            #expect(error.kind == .unreachable)
            #expect(error.message.contains(dead.absoluteString), "\(error.message)")
        }
        #expect(throws: EtcdError.self) { try EtcdClient("localhost:2379") }
    }
}
