import Foundation
import Logging
import SluiceCluster
import SluiceEtcd
import SluiceMonitor
import SluiceProtocol

/// A broker's part in a cluster (docs/CLUSTER.md), in the shell: joins through
/// `ClusterMembership` once the endpoints are bound, keeps its record's counts current every
/// second, shows the members in `/status`, says `leaving` when shutdown begins and leaves when
/// the loop has stopped. Never on the loop thread; etcd is never on the path of an activation.
final class ClusterAgent: Sendable {
    let settings: ClusterSettings
    let membership: ClusterMembership
    let logger: Logger
    private let tasks = LockedTasks()

    init(settings: ClusterSettings, brokerID: String, incarnation: UInt64, endpoints: BoundEndpoints, logger: Logger) throws(EtcdError) {
        self.settings = settings
        self.logger = logger
        let ttl = max(2, Int(settings.leaseTTL.components.seconds))
        // Each call gives up within a third of the TTL, so a black-holed endpoint costs one
        // keepalive round, not the lease.
        let client = try EtcdClient(settings.etcd.joined(separator: ","), timeout: .milliseconds(Int64(ttl) * 1000 / 3))
        membership = ClusterMembership(
            client: client, cluster: settings.name,
            record: BrokerRecord(id: brokerID, controllerEndpoint: endpoints.controller, invokerEndpoint: endpoints.invoker,
                                 monitorEndpoint: endpoints.monitor, incarnation: incarnation),
            ttl: ttl, keepAliveEvery: .seconds(Double(ttl) / 3))
    }

    /// Joins; throws if etcd cannot be reached or the id is taken.
    /// - Parameter members: called with the members (§9.1), and the slots the other members
    ///   advertise, on joining and on every change etcd shows; the loop tells its cluster
    ///   sessions and takes its share of the namespace limits.
    func join(status: @escaping @Sendable () -> (invokers: Int, slots: Int), feed: MonitorFeed?,
              invokerEvents: AsyncStream<InvokerEvent>,
              members: @escaping @Sendable (_ members: [ClusterMember], _ otherSlots: Int) -> Void) async throws(EtcdError) {
        try await membership.start()
        let selfID = membership.record.id
        let otherSlots = { @Sendable (records: [BrokerRecord]) in
            records.filter { $0.id != selfID && $0.state == .serving }.reduce(0) { $0 + $1.slots }
        }
        members(Self.wire(membership.members), otherSlots(membership.members))
        logger.notice("joined cluster", metadata: [
            "cluster": "\(settings.name)", "incarnation": "\(membership.record.incarnation)",
            "members": "\(membership.members.map(\.id).joined(separator: ","))",
        ])
        let membership = membership
        let settings = settings
        let logger = logger
        let counts = Task {
            var last = (invokers: -1, slots: -1)
            while !Task.isCancelled {
                let now = status()
                if now != last {
                    do {
                        try await membership.update { $0.invokers = now.invokers; $0.slots = now.slots }
                        last = now
                    } catch {
                        // etcd away: the next round tries again; serving goes on.
                    }
                }
                feed?.publish(cluster: Self.status(settings.name, membership))
                try? await Task.sleep(for: .seconds(1))
            }
        }
        let follow = Task {
            var reachable = true
            for await list in membership.changes() {
                members(Self.wire(list), otherSlots(list))
                feed?.publish(cluster: Self.status(settings.name, membership))
                logger.info("cluster members", metadata: ["members": "\(list.map { "\($0.id):\($0.state.rawValue)" }.joined(separator: ","))"])
                if membership.etcdReachable != reachable {
                    reachable = membership.etcdReachable
                }
            }
        }
        // Ownership records (`invokers/<id>` under this broker's lease) follow the sessions the
        // loop reports. For operators and the even spread, not for safety: an invoker holds one
        // session, whatever etcd says (docs/CLUSTER.md).
        let ownership = Task {
            var claims: [String: Task<Void, Never>] = [:]
            for await event in invokerEvents {
                switch event {
                case .joined(let id):
                    // An invoker that moved here is still recorded as its last broker's until
                    // that broker sees its GOODBYE (or its lease ends): try again for a while.
                    let claim = Task {
                        for attempt in 0..<20 {
                            do {
                                if try await membership.claimInvoker(id) { return }
                            } catch {
                                if attempt == 19 { logger.warning("cannot record invoker ownership in etcd", metadata: ["invoker": "\(id)", "error": "\(error)"]) }
                            }
                            try? await Task.sleep(for: .milliseconds(500))
                            if Task.isCancelled { return }
                        }
                        let owner = (try? await membership.owner(ofInvoker: id)) ?? nil
                        logger.warning("invoker registered here is recorded in etcd as another broker's", metadata: [
                            "invoker": "\(id)", "recorded_owner": "\(owner ?? "?")",
                        ])
                    }
                    claims[id]?.cancel()
                    claims[id] = claim
                case .left(let id):
                    claims.removeValue(forKey: id)?.cancel()
                    try? await membership.releaseInvoker(id)
                }
            }
        }
        tasks.add([counts, follow, ownership])
    }

    /// Shutdown began: other members and clients should stop sending here.
    func markLeaving() async {
        try? await membership.update { $0.state = .leaving }
    }

    /// The loop stopped: the record and every claim go at once.
    func leave() async {
        tasks.cancelAll()
        await membership.leave()
        logger.notice("left cluster", metadata: ["cluster": "\(settings.name)"])
    }

    /// The members as MEMBERS lists them (§9.1). A record whose incarnation does not read as a
    /// number (written by something else) is left out rather than guessed.
    static func wire(_ records: [BrokerRecord]) -> [ClusterMember] {
        records.compactMap { record in
            guard let incarnation = UInt64(record.incarnation) else { return nil }
            return ClusterMember(brokerID: record.id, incarnation: incarnation, state: record.state == .serving ? .serving : .leaving,
                                 controllerEndpoint: record.controllerEndpoint, invokerEndpoint: record.invokerEndpoint)
        }
    }

    static func status(_ name: String, _ membership: ClusterMembership) -> ClusterStatus {
        ClusterStatus(name: name, incarnation: membership.record.incarnation, etcdReachable: membership.etcdReachable,
                      members: membership.members.map { member in
                          ClusterStatus.Member(id: member.id, state: member.state.rawValue, incarnation: member.incarnation,
                                               controllerEndpoint: member.controllerEndpoint, invokerEndpoint: member.invokerEndpoint,
                                               invokers: member.invokers, slots: member.slots)
                      })
    }
}

final class LockedTasks: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [Task<Void, Never>] = []
    func add(_ more: [Task<Void, Never>]) { lock.withLock { tasks += more } }
    func cancelAll() { lock.withLock { tasks }.forEach { $0.cancel() } }
}

/// Joining the cluster failed at start-up.
public struct ClusterJoinFailure: Error, CustomStringConvertible {
    public var cluster: String
    public var reason: String
    public var description: String { "cannot join cluster '\(cluster)': \(reason)" }
}
