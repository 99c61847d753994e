import Logging
import SluiceProtocol
import ZeroMQ

/// A controller of a Sluice cluster (docs/CLUSTER.md, docs/PROTOCOL.md §9): connects to one
/// seed broker, learns the members from it and connects to every one of them, and sends each
/// activation to one broker, chosen by `BrokerPicker` over the room each broker advertises.
///
/// - An activation id goes to one broker only, never to a second one, not even after its
///   broker is lost (at most once across the cluster).
/// - Every activation gets exactly one answer. A broker that is lost (silent for the liveness
///   window, or restarted) has its activations answered `brokerLost` by its connection at once.
/// - Brokers marked `leaving` get no new work; their answers still come.
///
/// Answers of `submit` arrive on `answers`; `invoke` returns its own. Thread-safe.
public final class ClusterController: Sendable {
    public let controllerID: String
    public let answers: AsyncStream<ControllerAnswer>
    private let answersContinuation: AsyncStream<ControllerAnswer>.Continuation
    private let rule: BrokerPicker.Rule
    private let answerTimeout: Duration?
    private let context: ZMQContext
    private let logger: Logger
    private let state = Locked(State())

    private struct State: Sendable {
        /// One connection per broker, by controller endpoint; kept while it may still answer.
        var links: [String: Link] = [:]
        /// Each member's last known state, by broker id.
        var members: [String: ClusterMember] = [:]
        /// Ids sent and not answered, across every broker: an id is never on two.
        var pending: Set<String> = []
        var random = SystemRandomNumberGenerator()
        var closed = false
    }

    private struct Link: Sendable {
        var client: ControllerClient
        var forward: Task<Void, Never>
    }

    /// What this controller knows of one broker.
    public struct BrokerView: Sendable, Equatable {
        public var endpoint: String
        public var brokerID: String
        public var state: MemberState?
        public var live: Bool
        public var estimate: BrokerPicker.Estimate
        public var pending: Int
    }

    /// - Parameters:
    ///   - id: the controller id; the same on every broker.
    ///   - seeds: controller endpoints of one or more brokers; the rest are learned (§9.1).
    ///   - rule: how a broker is chosen per activation.
    public init(id: String, seeds: [String], rule: BrokerPicker.Rule = .actionAffinity, answerTimeout: Duration? = nil,
                context: ZMQContext? = nil, logger: Logger = Logger(label: "sluice.cluster-controller")) throws {
        try Identifier.validate(id, field: "controller id")
        guard !seeds.isEmpty else { throw ProtocolError(.malformed, "a cluster controller needs at least one seed endpoint") }
        controllerID = id
        self.rule = rule
        self.answerTimeout = answerTimeout
        self.context = try context ?? ZMQContext()
        self.logger = logger
        (answers, answersContinuation) = AsyncStream.makeStream(of: ControllerAnswer.self)
        for seed in seeds { try link(seed) }
    }

    /// Connects to the seeds (and, as MEMBERS arrive, to every member).
    public func start() {
        for link in state.withLock({ Array($0.links.values) }) { link.client.start() }
    }

    /// Suspends until at least `brokers` members are connected and have told their room, or
    /// `timeout` passes. Returns whether they are.
    public func waitUntilReady(brokers: Int = 1, timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if candidates().count >= brokers { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return candidates().count >= brokers
    }

    /// Sends one activation to one broker and suspends until its answer.
    public func invoke(_ header: RoutingHeader, payload: [UInt8]) async -> ControllerAnswer {
        var options = candidates()
        switch choose(header, among: &options) {
        case .failure(let answer):
            return answer
        case .success(let client):
            let answer = await client.invoke(header, payload: payload)
            _ = state.withLock { $0.pending.remove(header.activationID) }
            return answer
        }
    }

    /// Sends activations without waiting, each to one broker; each answer arrives once on
    /// `answers`.
    public func submit(_ batch: [(RoutingHeader, [UInt8])]) {
        var groups: [ObjectIdentifier: (ControllerClient, [(RoutingHeader, [UInt8])])] = [:]
        // The brokers' state is read once per batch; each choice counts against the estimate
        // of the broker it picked, so the rest of the batch sees it.
        var options = candidates()
        for (header, payload) in batch {
            switch choose(header, among: &options) {
            case .failure(let answer):
                answersContinuation.yield(answer)
            case .success(let client):
                groups[ObjectIdentifier(client), default: (client, [])].1.append((header, payload))
            }
        }
        for (client, items) in groups.values { client.submit(items) }
    }

    /// The brokers this controller is connected to, by endpoint.
    public var brokers: [BrokerView] {
        let (links, members) = state.withLock { ($0.links, $0.members) }
        return links.map { endpoint, link in
            let view = link.client.cluster
            return BrokerView(endpoint: endpoint, brokerID: view.brokerID, state: members[view.brokerID]?.state, live: view.live,
                              estimate: view.estimate, pending: link.client.pendingCount)
        }.sorted { $0.endpoint < $1.endpoint }
    }

    /// Activations sent and not answered yet.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Says GOODBYE to every broker and stops; returns when every connection has stopped.
    public func close() async {
        let links = state.withLock { state -> [Link] in
            state.closed = true
            return Array(state.links.values)
        }
        for link in links { await link.client.close() }
        for link in links { await link.forward.value }
        answersContinuation.finish()
    }

    // MARK: Inside

    /// The connected brokers that take work: live, member state serving, and this connection
    /// speaks to the incarnation the member list names (a broker restarted on its endpoint is
    /// a candidate only once its connection has seen the new incarnation).
    private func candidates() -> [(client: ControllerClient, estimate: BrokerPicker.Estimate)] {
        let (links, members) = state.withLock { ($0.links, $0.members) }
        return links.values.compactMap { link in
            let view = link.client.placement
            guard view.live, let incarnation = view.incarnation, view.estimate.room != nil,
                  let member = members[view.estimate.brokerID], member.state == .serving, member.incarnation == incarnation else { return nil }
            return (link.client, view.estimate)
        }.sorted { $0.estimate.brokerID < $1.estimate.brokerID }
    }

    /// Where an activation goes, or its answer when it goes nowhere.
    private enum Choice {
        case success(ControllerClient)
        case failure(ControllerAnswer)
    }

    private func choose(_ header: RoutingHeader, among options: inout [(client: ControllerClient, estimate: BrokerPicker.Estimate)]) -> Choice {
        let chosen = state.withLock { state -> Choice in
            guard !state.closed else {
                return .failure(ControllerAnswer(header: AnswerHeader(activationID: header.activationID, kind: .rejected,
                                                                      reason: "the cluster controller is closed"), result: []))
            }
            guard !state.pending.contains(header.activationID) else {
                return .failure(ControllerAnswer(header: AnswerHeader(activationID: header.activationID, kind: .rejected,
                                                                      reason: "activation id is already pending on this controller"), result: []))
            }
            guard let index = BrokerPicker.pick(action: header.action, among: options.map(\.estimate), rule: rule, using: &state.random) else {
                return .failure(ControllerAnswer(header: AnswerHeader(activationID: header.activationID, kind: .overloaded,
                                                                      reason: "no broker of the cluster is serving (none connected, or all leaving); not sent"), result: []))
            }
            state.pending.insert(header.activationID)
            options[index].estimate.sentSince += 1
            return .success(options[index].client)
        }
        return chosen
    }

    /// Connects to the broker at `endpoint` unless already connected.
    private func link(_ endpoint: String) throws {
        guard state.withLock({ $0.links[endpoint] == nil && !$0.closed }) else { return }
        let client = try ControllerClient(id: controllerID, endpoint: endpoint, context: context, answerTimeout: answerTimeout,
                                          cluster: true, onMembers: { [weak self] members in self?.membersArrived(members) },
                                          logger: logger)
        let continuation = answersContinuation
        let forward = Task { [state] in
            for await answer in client.answers {
                // Only what this controller sent: an answer kept for this id by a broker from
                // before this controller started is passed on too (there is no other owner).
                _ = state.withLock { $0.pending.remove(answer.activationID) }
                continuation.yield(answer)
            }
        }
        let added = state.withLock { state -> Bool in
            guard state.links[endpoint] == nil, !state.closed else { return false }
            state.links[endpoint] = Link(client: client, forward: forward)
            return true
        }
        if !added {
            forward.cancel()
            client.closeBlocking()
        }
    }

    /// MEMBERS from any broker: remember each member's state and connect to new ones.
    private func membersArrived(_ members: Members) {
        let fresh = state.withLock { state -> [ClusterMember] in
            var fresh: [ClusterMember] = []
            // The latest list is the truth: a broker no longer listed (left, or its lease ran
            // out) takes no new work until it is listed serving again.
            state.members = [:]
            for member in members.members {
                state.members[member.brokerID] = member
                if member.state == .serving && state.links[member.controllerEndpoint] == nil { fresh.append(member) }
            }
            return fresh
        }
        for member in fresh {
            do {
                try link(member.controllerEndpoint)
                state.withLock { $0.links[member.controllerEndpoint]?.client }?.start()
                logger.info("connected to a cluster member", metadata: ["broker": "\(member.brokerID)", "endpoint": "\(member.controllerEndpoint)"])
            } catch {
                logger.warning("cannot connect to a cluster member", metadata: ["broker": "\(member.brokerID)", "error": "\(error)"])
            }
        }
    }
}
