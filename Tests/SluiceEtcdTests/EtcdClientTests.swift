import Foundation
import SluiceEtcd
import Testing

/// A real etcd member (Debian's etcd-server) on free loopback ports, in a temporary directory.
final class EtcdServer: @unchecked Sendable {
    private(set) var process = Process()
    let directory: URL
    let clientURL: URL
    let binary: String
    let arguments: [String]

    init() throws {
        guard let binary = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw EtcdTestFailure("etcd is not installed: scripts/setup.sh --cluster installs etcd-server (apt)")
        }
        self.binary = binary
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-etcd-\(UUID().uuidString)")
        let clientPort = try freePort(), peerPort = try freePort()
        clientURL = URL(string: "http://127.0.0.1:\(clientPort)")!
        let peer = "http://127.0.0.1:\(peerPort)"
        arguments = [
            "--name", "n1", "--data-dir", directory.path,
            "--listen-client-urls", clientURL.absoluteString, "--advertise-client-urls", clientURL.absoluteString,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "n1=\(peer)",
        ]
        try launch()
    }

    /// Starts (again, after `kill()`) on the same ports and data.
    func launch() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Waits until the member answers a read.
    func ready(_ client: EtcdClient) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await client.range(prefix: "probe")) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EtcdTestFailure("etcd did not answer within 30 s")
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct EtcdTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw EtcdTestFailure("no free port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
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
        while ContinuousClock.now < kept {
            #expect(try await client.keepAlive(lease) >= 2)
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(try await client.get("/sluice/test/brokers/a") != nil)
        // No more keepalives: both keys go (etcd's granularity: within a few seconds of the TTL).
        let deadline = ContinuousClock.now + .seconds(15)
        var left = try await client.range(prefix: "/sluice/test/")
        while !left.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            left = try await client.range(prefix: "/sluice/test/")
        }
        #expect(left.isEmpty, "keys left after the lease expired: \(left.map(\.key))")
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
