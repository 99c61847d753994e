import Foundation
import SluiceEtcd
import SluiceMonitor
import SluiceTestKit
import Testing

/// Brokers joining a cluster through a real etcd (docs/CLUSTER.md; membership only so far).
extension BrokerEndToEndTests {
    func clusterStatus(_ etcd: EtcdServer, cluster: String) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(Products.path("sluice"), ["cluster", "status", "--cluster", cluster, "--etcd", etcd.clientURL.absoluteString])
        let status = try #require(child.waitForExit(timeout: .seconds(20)))
        return (status, child.output.waitForEnd(timeout: .seconds(5)))
    }

    func etcdReady(_ etcd: EtcdServer) async throws {
        let client = EtcdClient(endpoints: [etcd.clientURL])
        try await waitUntil("etcd answers a read", timeout: .seconds(30)) { (try? await client.range(prefix: "probe")) != nil }
    }

    @Test("Two brokers join a cluster: each lists both in /status, `sluice cluster status` shows them; a killed one goes after its lease; a stopped one at once")
    func clusterMembership() async throws {
        let etcd = try EtcdServer()
        try await etcdReady(etcd)
        let url = etcd.clientURL.absoluteString
        let first = try BrokerProcess(["--cluster", "e2e", "--etcd", url, "--broker-id", "first", "--heartbeat-interval", "200ms"])
        let second = try BrokerProcess(["--cluster", "e2e", "--etcd", url, "--broker-id", "second"])
        let both = try await first.waitForStatus("first sees both members") { $0.cluster?.members.map(\.id) == ["first", "second"] }
        #expect(both.cluster?.name == "e2e")
        #expect(both.cluster?.etcdReachable == true)
        #expect(both.cluster?.members.first { $0.id == "second" }?.controllerEndpoint == second.controllerEndpoint)
        #expect(both.configuration["cluster.name"] == "e2e")
        let listed = try clusterStatus(etcd, cluster: "e2e")
        #expect(listed.status == 0)
        #expect(listed.output.contains("2 brokers"), "\(listed.output)")
        #expect(listed.output.contains(first.controllerEndpoint) && listed.output.contains(second.controllerEndpoint))

        // An invoker's session is recorded in etcd as the broker's, and released when it ends.
        // Watched from before the invoker starts: the claim and the release arrive as events.
        let client = EtcdClient(endpoints: [etcd.clientURL])
        var ownership = client.watch(prefix: "/sluice/e2e/invokers/held-inv", after: try await client.revision()).makeAsyncIterator()
        let invoker = try startInvoker(first, id: "held-inv", slots: 4, duration: "1ms")
        let claimed = try #require(try await ownership.next()?.first)
        #expect(claimed.kind == .put && claimed.keyValue.value == "first", "the invoker's ownership record")
        #expect(try clusterStatus(etcd, cluster: "e2e").output.contains("first holds: held-inv"))
        invoker.signal(SIGKILL)
        try await first.waitForStatus("the killed invoker is gone") { $0.invokers.isEmpty }
        let release = try #require(try await ownership.next()?.first)
        #expect(release.kind == .delete, "released when its session ended")
        #expect(try await client.get("/sluice/e2e/invokers/held-inv") == nil)

        // Same id again: refused, naming the id and the member that has it.
        let twin = try ChildProcess(Products.path("sluice"), [
            "broker", "--cluster", "e2e", "--etcd", url, "--broker-id", "first",
            "--controller-endpoint", "tcp://127.0.0.1:*", "--invoker-endpoint", "tcp://127.0.0.1:*", "--monitor-endpoint", "127.0.0.1:0",
        ])
        #expect(twin.waitForExit(timeout: .seconds(30)) == 1)
        #expect(twin.errors.wait(for: "broker id 'first' is already a member of cluster 'e2e'", timeout: .seconds(5)) != nil,
                "stderr: \(twin.errors.current)")

        // A crash: the member goes once its lease (3 s) expires.
        let killedAt = ContinuousClock.now
        second.child.signal(SIGKILL)
        try await first.waitForStatus(timeout: .seconds(20), "the killed member leaves first's view") { $0.cluster?.members.map(\.id) == ["first"] }
        print("cluster: a SIGKILLed broker left the other's view after \(killedAt.duration(to: .now)) (lease TTL 3 s)")

        // A graceful stop: the record goes at once.
        _ = try first.stop()
        #expect(try clusterStatus(etcd, cluster: "e2e").output.contains("0 brokers"))
    }

    @Test("Cluster settings that cannot work are refused at start-up, naming the key")
    func clusterConfigurationErrors() throws {
        for (arguments, named) in [
            (["--cluster", "x", "--broker-id", "b1"], "cluster.etcd"),
            (["--cluster", "x", "--etcd", "http://127.0.0.1:1"], "broker.id"),
            (["--cluster", "bad name", "--etcd", "http://127.0.0.1:1", "--broker-id", "b1"], "cluster.name"),
        ] as [([String], String)] {
            let broker = try ChildProcess(Products.path("sluice"), ["broker"] + arguments)
            #expect(broker.waitForExit(timeout: .seconds(20)) == 64, "\(arguments)")
            #expect(broker.errors.wait(for: named, timeout: .seconds(5)) != nil, "\(arguments): \(broker.errors.current)")
        }
        // etcd not there: exit 1, naming the cluster and etcd.
        let lonely = try ChildProcess(Products.path("sluice"), [
            "broker", "--cluster", "x", "--etcd", "http://127.0.0.1:\(try freePort())", "--broker-id", "b1",
            "--controller-endpoint", "tcp://127.0.0.1:*", "--invoker-endpoint", "tcp://127.0.0.1:*", "--monitor-endpoint", "127.0.0.1:0",
        ])
        #expect(lonely.waitForExit(timeout: .seconds(30)) == 1)
        #expect(lonely.errors.wait(for: "cannot join cluster 'x'", timeout: .seconds(5)) != nil, "stderr: \(lonely.errors.current)")
    }
}
