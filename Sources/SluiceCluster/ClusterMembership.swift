import Foundation
import SluiceEtcd
import Synchronization

/// One broker's entry in etcd (`/sluice/<cluster>/brokers/<id>`, docs/CLUSTER.md).
public struct BrokerRecord: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case serving, leaving }

    public var id: String
    public var controllerEndpoint: String
    public var invokerEndpoint: String
    public var monitorEndpoint: String?
    /// New at every start; JSON carries it as a string (64 bits).
    public var incarnation: String
    public var state: State
    public var slots: Int
    public var invokers: Int

    public init(id: String, controllerEndpoint: String, invokerEndpoint: String, monitorEndpoint: String? = nil,
                incarnation: UInt64 = UInt64.random(in: 1 ... .max), state: State = .serving, slots: Int = 0, invokers: Int = 0) {
        self.id = id
        self.controllerEndpoint = controllerEndpoint
        self.invokerEndpoint = invokerEndpoint
        self.monitorEndpoint = monitorEndpoint
        self.incarnation = String(incarnation)
        self.state = state
        self.slots = slots
        self.invokers = invokers
    }
}

/// A broker's membership in a cluster, kept in etcd (docs/CLUSTER.md, "Membership in etcd").
///
/// `start()` grants a lease, writes this broker's record on it, reads the members and then
/// follows them with a watch; a task renews the lease every `keepAliveEvery`. Every key this
/// broker writes hangs on that lease, so if the broker dies its keys vanish together once the
/// TTL passes. etcd is never on the safety path: when it cannot be reached, `members` keeps the
/// last view and `etcdReachable` turns false; when it comes back, a lease that expired
/// meanwhile is replaced and the record and the invoker claims written again.
///
/// Thread-safe; the tasks it starts end with `leave()` or `stop()`.
public final class ClusterMembership: Sendable {
    public let cluster: String
    let client: EtcdClient
    let ttl: Int
    let keepAliveEvery: Duration
    private let state: Mutex<State>

    struct State {
        var record: BrokerRecord
        var lease: EtcdLease?
        var members: [String: BrokerRecord] = [:]
        var claimed: Set<String> = []
        var reachable = false
        var tasks: [Task<Void, Never>] = []
        var listeners: [UInt64: AsyncStream<[BrokerRecord]>.Continuation] = [:]
        var stopped = false
        var watch: Task<Void, Never>?
        /// The last revision the member view is known to be current at.
        var revision: Int64 = 0
    }

    public init(client: EtcdClient, cluster: String, record: BrokerRecord, ttl: Int = 3, keepAliveEvery: Duration = .seconds(1)) {
        self.client = client
        self.cluster = cluster
        self.ttl = ttl
        self.keepAliveEvery = keepAliveEvery
        state = Mutex(State(record: record))
    }

    var brokersPrefix: String { "/sluice/\(cluster)/brokers/" }
    var invokersPrefix: String { "/sluice/\(cluster)/invokers/" }

    /// The members as last seen (this broker included once registered), by id.
    public var members: [BrokerRecord] { state.withLock { $0.members.values.sorted { $0.id < $1.id } } }
    /// Whether the last call to etcd succeeded.
    public var etcdReachable: Bool { state.withLock { $0.reachable } }
    public var record: BrokerRecord { state.withLock { $0.record } }

    /// The member list every time it changes (the current one first).
    public func changes() -> AsyncStream<[BrokerRecord]> {
        let key = UInt64.random(in: 1 ... .max)
        let (stream, continuation) = AsyncStream<[BrokerRecord]>.makeStream()
        let current = state.withLock { state -> [BrokerRecord] in
            state.listeners[key] = continuation
            return state.members.values.sorted { $0.id < $1.id }
        }
        continuation.yield(current)
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.listeners.removeValue(forKey: key) } }
        return stream
    }

    /// Registers and starts following the members. Throws if etcd cannot be reached now (a
    /// broker that cannot join at start says so; one that loses etcd later keeps serving).
    ///
    /// An id already registered by a live broker is refused (two brokers with one id would
    /// overwrite each other's record): the error names it and its endpoints.
    public func start() async throws(EtcdError) {
        let id = record.id
        // The record is created only if the id is free (one atomic txn: two brokers starting
        // with one id cannot both pass).
        let lease = try await client.grantLease(ttl: ttl)
        var created = try await client.createIfAbsent(brokersPrefix + id, Self.json(record), lease: lease)
        if !created, let other = try? await client.get(brokersPrefix + id).flatMap({ Self.record($0.value) }),
           other.controllerEndpoint == record.controllerEndpoint, other.incarnation != record.incarnation {
            // The record names the endpoint this process has just bound: its broker is dead (a
            // crash; its lease has not run out yet). The restart takes its place at once.
            _ = try await client.delete(brokersPrefix + id)
            created = try await client.createIfAbsent(brokersPrefix + id, Self.json(record), lease: lease)
        }
        guard created else {
            try? await client.revoke(lease)
            let other = try? await client.get(brokersPrefix + id).flatMap { Self.record($0.value) }
            throw EtcdError(kind: .refused, message: "broker id '\(id)' is already a member of cluster '\(cluster)' "
                + "(controllers \(other?.controllerEndpoint ?? "?"), incarnation \(other?.incarnation ?? "?")); give each broker its own --broker-id")
        }
        state.withLock { $0.lease = lease }
        setReachable(true)
        let revision = try await refreshMembers()
        let keepAlive = Task { [self] in await keepAliveLoop() }
        state.withLock { state in
            state.revision = revision
            state.tasks.append(keepAlive)
        }
        restartWatch()
    }

    /// Starts following the members again from the last known revision (after etcd was
    /// unreachable the old stream may be stuck on a dead connection).
    func restartWatch() {
        let (old, stopped) = state.withLock { ($0.watch, $0.stopped) }
        old?.cancel()
        guard !stopped else { return }
        let task = Task { [self] in await watchLoop() }
        state.withLock { $0.watch = task }
    }

    /// Writes `change` to this broker's record (state, counts).
    public func update(_ change: (inout BrokerRecord) -> Void) async throws(EtcdError) {
        let (record, lease) = state.withLock { state -> (BrokerRecord, EtcdLease?) in
            change(&state.record)
            return (state.record, state.lease)
        }
        try await client.put(brokersPrefix + record.id, Self.json(record), lease: lease)
    }

    /// Claims invoker `id` for this broker: true if it is now (or already was) this broker's.
    public func claimInvoker(_ id: String) async throws(EtcdError) -> Bool {
        let (me, lease) = state.withLock { ($0.record.id, $0.lease) }
        let key = invokersPrefix + id
        if try await client.createIfAbsent(key, me, lease: lease) {
            state.withLock { _ = $0.claimed.insert(id) }
            return true
        }
        let owner = try await client.get(key)?.value
        if owner == me { state.withLock { _ = $0.claimed.insert(id) } }
        return owner == me
    }

    /// The broker that owns invoker `id` in etcd, if any.
    public func owner(ofInvoker id: String) async throws(EtcdError) -> String? {
        try await client.get(invokersPrefix + id)?.value
    }

    public func releaseInvoker(_ id: String) async throws(EtcdError) {
        let me = state.withLock { $0.record.id }
        if try await client.get(invokersPrefix + id)?.value == me { try await client.delete(invokersPrefix + id) }
        state.withLock { _ = $0.claimed.remove(id) }
    }

    /// Leaves for good: marks the record `leaving`, then revokes the lease (every key goes at
    /// once) and stops the tasks.
    public func leave() async {
        try? await update { $0.state = .leaving }
        let lease = state.withLock { $0.lease }
        stop()
        if let lease { try? await client.revoke(lease) }
    }

    /// Stops renewing and following, writing nothing: to etcd this broker died (its keys vanish
    /// once the TTL passes). Tests use it to play a crash.
    public func stop() {
        let (tasks, listeners) = state.withLock { state in
            state.stopped = true
            defer { state.tasks.removeAll(); state.listeners.removeAll(); state.watch = nil }
            return (state.tasks + [state.watch].compactMap { $0 }, Array(state.listeners.values))
        }
        tasks.forEach { $0.cancel() }
        listeners.forEach { $0.finish() }
    }

    // MARK: Tasks

    /// Joins again under a new lease (the old one expired): the record, then the claims. The
    /// lease is kept only once all of it is written, so a half-done attempt is retried.
    func register() async throws(EtcdError) {
        guard !state.withLock({ $0.stopped }) else { return }
        let lease = try await client.grantLease(ttl: ttl)
        let (record, claimed) = state.withLock { ($0.record, $0.claimed) }
        do {
            try await client.put(brokersPrefix + record.id, Self.json(record), lease: lease)
            for invoker in claimed {
                // Claims made under an expired lease went with it; take them again if still free.
                _ = try await client.createIfAbsent(invokersPrefix + invoker, record.id, lease: lease)
            }
        } catch {
            try? await client.revoke(lease)
            throw error
        }
        // Stopped meanwhile (a leave raced with this): take it all back.
        let keep = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.lease = lease
            return true
        }
        if !keep {
            try? await client.revoke(lease)
            return
        }
        setReachable(true)
    }

    /// Reads every member; returns the revision the read saw.
    func refreshMembers() async throws(EtcdError) -> Int64 {
        let (listed, revision) = try await client.rangeAndRevision(prefix: brokersPrefix)
        var members: [String: BrokerRecord] = [:]
        for entry in listed {
            if let record = Self.record(entry.value) { members[record.id] = record }
        }
        publish { $0 = members }
        setReachable(true)
        return revision
    }

    func keepAliveLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: keepAliveEvery)
            if Task.isCancelled || state.withLock({ $0.stopped }) { return }
            let wasReachable = etcdReachable
            guard let lease = state.withLock({ $0.lease }) else {
                // A re-registration failed half-way: try it again.
                if (try? await register()) != nil, !wasReachable { restartWatch() }
                continue
            }
            do {
                try await client.keepAlive(lease)
                setReachable(true)
                if !wasReachable { restartWatch() }
            } catch where error.kind == .leaseExpired {
                // etcd was away longer than the TTL: join again.
                state.withLock { $0.lease = nil }
                if (try? await register()) != nil { restartWatch() }
            } catch {
                setReachable(false)
            }
        }
    }

    func watchLoop() async {
        var revision = state.withLock { $0.revision }
        if revision == 0 || !etcdReachable, let fresh = try? await refreshMembers() { revision = fresh }
        while !Task.isCancelled {
            do {
                for try await events in client.watch(prefix: brokersPrefix, after: revision) {
                    for event in events {
                        revision = max(revision, event.keyValue.modRevision)
                        state.withLock { $0.revision = max($0.revision, revision) }
                        let id = String(event.keyValue.key.dropFirst(brokersPrefix.count))
                        switch event.kind {
                        case .put: if let record = Self.record(event.keyValue.value) { publish { $0[record.id] = record } }
                        case .delete: publish { $0[id] = nil }
                        }
                    }
                    setReachable(true)
                }
            } catch {
                if Task.isCancelled { return }
                setReachable(false)
            }
            // The stream ended or failed: read everything again, then watch from there.
            try? await Task.sleep(for: keepAliveEvery)
            if let fresh = try? await refreshMembers() {
                revision = fresh
                state.withLock { $0.revision = max($0.revision, fresh) }
            }
        }
    }

    func publish(_ change: (inout [String: BrokerRecord]) -> Void) {
        let (members, listeners) = state.withLock { state -> ([BrokerRecord], [AsyncStream<[BrokerRecord]>.Continuation]) in
            let before = state.members
            change(&state.members)
            guard state.members != before else { return ([], []) }
            return (state.members.values.sorted { $0.id < $1.id }, Array(state.listeners.values))
        }
        for listener in listeners { listener.yield(members) }
    }

    func setReachable(_ reachable: Bool) { state.withLock { $0.reachable = reachable } }

    static func json(_ record: BrokerRecord) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(record)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func record(_ json: String) -> BrokerRecord? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(BrokerRecord.self, from: Data(json.utf8))
    }
}
