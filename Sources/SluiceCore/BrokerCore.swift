import DequeModule
import SluicePluginAPI
import SluiceProtocol

/// The broker as a sans-I/O state machine: events in, actions out (docs/ARCHITECTURE.md).
///
/// It owns every rule of docs/PROTOCOL.md: sessions, late binding, the waiting queue, circuit
/// breaking, liveness, health and exactly-one-answer. It never touches a socket or a clock;
/// `handle(_:now:into:)` appends the actions the shell must execute, in order.
///
/// Per-activation work is O(1) (dictionaries and a timing wheel); placement asks the
/// `RoutingStrategy` with the eligible invokers.
public struct BrokerCore<Payload: FrameBytes> {
    public let configuration: BrokerConfiguration
    public internal(set) var counters = BrokerCounters()
    var strategy: any RoutingStrategy
    var now = Timestamp.zero

    // Peers.
    var controllers: [String: ControllerState<Payload>] = [:]
    var controllerIDByRoute: [RoutingID: String] = [:]
    /// The last connection of each controller whose session ended, so an answer whose send
    /// fails after that still finds its controller (§6.4). Forgotten after the liveness
    /// window (sends to a connection fail soon after it goes), oldest first from the deque.
    var formerControllerRoutes: [RoutingID: String] = [:]
    var formerControllerRouteTimes: Deque<(route: RoutingID, at: Timestamp)> = []
    /// Answers parked for all controllers, and their result bytes (bounded, §6.4).
    var parkedTotal = 0
    var parkedBytes = 0
    var invokers: [String: InvokerState] = [:]
    var invokerIDByRoute: [RoutingID: String] = [:]
    /// What strategies see, by position; kept equal to `invokers` by `store`.
    var cluster: [InvokerSnapshot?] = []
    /// `cluster`'s load figures, packed (`ClusterView.loads`); changed with it.
    var loads: [InvokerLoad] = []
    /// Last position of every invoker id ever registered (§6.1).
    var positionByID: [String: Int] = [:]
    var dedicatedCounts: [String: Int] = [:]
    var warmPositions: [String: Set<Int>] = [:]
    /// Invokers that can take an activation now (`canTake(memoryMB: 1)`), kept by `store`.
    var invokersWithRoom = 0
    /// How many non-draining invokers have each memory size, kept by `store`: the largest is
    /// what an activation's memory is judged against.
    var memorySizes: [UInt32: Int] = [:]
    /// Topic prefixes by session (§4.13); removed when the session ends.
    var subscribers: [SessionKey: Subscriber] = [:]
    /// Slots of the other members of the cluster, as etcd last showed them; nil alone.
    var otherMembersSlots: Int?
    /// This broker's share of the cluster's slots, kept by the tick: its share of every
    /// namespace limit (docs/CLUSTER.md, "Namespace limits across the cluster"). 1 alone.
    var limitShare = 1.0
    /// Sessions that sent CLUSTER (§9.1); removed when the session ends.
    var clusterSessions: Set<SessionKey> = []
    /// The cluster's members as the shell last reported them (§9.1).
    var members: [ClusterMember] = []
    /// Work recovered from the overflow store and not answered yet, by controller (§9.1
    /// RECOVERED). Only in a cluster.
    var recoveredUnanswered: [String: Set<String>] = [:]

    // Activations.
    var inFlight = InFlightTable()
    /// Completion deadlines of the activations in flight, by handle.
    var deadlines: HandleWheel
    var waiting: WaitingQueue<Payload>
    /// In-flight activations per namespace, for exact cluster-wide limits (§6.1).
    var namespaceInFlight: [String: Int] = [:]
    /// Whether any namespace has an in-flight limit: only then are `namespaceInFlight` counted
    /// (two `String` hashes per activation otherwise spent on counts nobody reads).
    let countsNamespaceInFlight: Bool
    /// Ids that timed out or were lost recently, to count their late completions (§5).
    var recentlyFinished = RecentSet<String>(capacity: 65_536)

    public internal(set) var shuttingDown = false
    /// Durations for the latency histograms, taken by the shell (`takeLatencySamples()`).
    var latencySamples = LatencySamples()
    /// Placement trace (`recordsTrace`, `takeTraceEvents()`): off unless the shell records.
    var tracing = false
    var traceSequence: UInt32 = 0
    var traceStates: [String: TraceState] = [:]
    var traceByHandle: [TraceState?] = []
    var traceLast: (id: String, sequence: UInt32)?
    var traceEvents: [TraceEvent] = []

    /// How far into one namespace's queue a drain looks past activations that do not fit.
    let waitingLookahead = 8
    /// The lanes of one waiting-queue turn; kept to reuse its storage.
    var laneTurn: [Int] = []
    /// A completion freed a slot whose offer to waiting work is deferred to the end of the
    /// batch (`BrokerConfiguration.batchesPlacement`).
    var placementPending = false
    /// `configuration.completionTimeout` in integer nanoseconds: `Duration` arithmetic runs
    /// 128-bit generic code, and this is needed for every DISPATCH.
    let completionFloorNanoseconds: UInt64
    let completionSlackNanoseconds: UInt64
    let completionMultiplier: UInt64

    // Specialized here for the broker's payload (`SharedFrame`): the shell gets a fully
    // specialized core without cross-module optimization (issue 13, item 15).
    @_specialize(exported: true, where Payload == SharedFrame)
    public init(configuration: BrokerConfiguration, strategy: any RoutingStrategy, start: Timestamp = .zero) {
        self.configuration = configuration
        self.strategy = strategy
        self.now = start
        self.completionFloorNanoseconds = configuration.completionTimeoutFloor.nanoseconds
        self.completionSlackNanoseconds = configuration.completionTimeoutSlack.nanoseconds
        self.completionMultiplier = UInt64(max(configuration.completionTimeoutMultiplier, 1))
        self.countsNamespaceInFlight = configuration.namespaceConcurrencyLimit != nil || !configuration.namespaceConcurrencyLimits.isEmpty
        self.deadlines = HandleWheel(granularity: .milliseconds(50), buckets: 8192, start: start)
        self.waiting = WaitingQueue(start: start)
    }

    // MARK: Observation

    public var inFlightCount: Int { inFlight.count }
    public var waitingCount: Int { waiting.count }
    public var invokerCount: Int { invokers.count }
    public var connectedControllerCount: Int { controllers.values.count(where: { $0.route != nil }) }
    public var strategyName: String { strategy.strategyName }

    /// The view strategies decide on. Shares storage with the core: building it copies nothing.
    public var clusterView: ClusterView {
        ClusterView(invokers: cluster, loads: loads, registeredCount: invokers.count, totalInFlight: inFlight.count,
                    policy: configuration.eligibility, dedicatedNamespaceCounts: dedicatedCounts, warmPositions: warmPositions)
    }

    /// Replaces the routing strategy between two events. The new strategy learns every
    /// registered invoker through `invokerJoined` first; work in flight is not touched.
    public mutating func replaceStrategy(_ newStrategy: any RoutingStrategy) {
        strategy = newStrategy
        for invoker in cluster.compactMap({ $0 }) { strategy.invokerJoined(invoker) }
        counters.strategySwaps += 1
    }

    /// Writes an invoker's whole state (a new one, or a changed copy) and its snapshot in the
    /// view, and keeps the aggregates that make per-activation checks O(1) (`anyRoom`, the
    /// largest invoker) current.
    mutating func store(_ invoker: InvokerState) {
        if let index = invokers.index(forKey: invoker.id) {
            updateInvoker(at: index) { $0 = invoker }
        } else {
            invokers[invoker.id] = invoker
            account(AggregateShare(invoker), by: 1)
            setSnapshot(invoker.snapshot, at: invoker.position)
            assert(aggregatesAreCurrent, "invoker aggregates drifted from the invokers")
        }
    }

    /// Changes one invoker in place and keeps its snapshot and the aggregates current, without
    /// copying its state: a copy would make the next insert into its in-flight set copy the
    /// whole set. Returns nil if the invoker is unknown.
    @discardableResult
    mutating func updateInvoker<Result>(_ id: String, _ body: (inout InvokerState) -> Result) -> Result? {
        guard let index = invokers.index(forKey: id) else { return nil }
        return updateInvoker(at: index, body)
    }

    /// `updateInvoker` for a caller that has looked the invoker up already.
    mutating func updateInvoker<Result>(at index: [String: InvokerState].Index, _ body: (inout InvokerState) -> Result) -> Result {
        // One in-place access: reading `invokers.values[index]` as a value would copy the state.
        func change(_ invoker: inout InvokerState) -> (Result, InvokerSnapshot, before: AggregateShare, after: AggregateShare) {
            let before = AggregateShare(invoker)
            let result = body(&invoker)
            return (result, invoker.snapshot, before, AggregateShare(invoker))
        }
        let (result, snapshot, before, after) = change(&invokers.values[index])
        reaccount(from: before, to: after)
        setSnapshot(snapshot, at: snapshot.position)
        assert(aggregatesAreCurrent, "invoker aggregates drifted from the invokers")
        return result
    }

    /// Reads an invoker's state in place. `invokers.values[index].field` reads the whole state
    /// as a value first (its id, tags, warm set: a retain and a release each), several times
    /// per message on the hot path; an in-place access reads only the field.
    @inline(__always)
    mutating func readInvoker<Result>(at index: [String: InvokerState].Index, _ read: (inout InvokerState) -> Result) -> Result {
        read(&invokers.values[index])
    }

    /// `updateInvoker` for the per-activation changes (a DISPATCH, a completion): they move only
    /// the invoker's load, so its snapshot's load fields are written in place instead of a new
    /// snapshot (with its id, tags and warm set) being built and stored for every message.
    mutating func updateInvokerLoad<Result>(at index: [String: InvokerState].Index, _ body: (inout InvokerState) -> Result) -> Result {
        func change(_ invoker: inout InvokerState) -> (Result, position: Int, InvokerLoad, before: AggregateShare, after: AggregateShare) {
            let before = AggregateShare(invoker)
            let result = body(&invoker)
            return (result, invoker.position, invoker.load, before, AggregateShare(invoker))
        }
        let (result, position, load, before, after) = change(&invokers.values[index])
        reaccount(from: before, to: after)
        loads[position] = load
        cluster[position]?.setLoad(load)
        assert(aggregatesAreCurrent, "invoker aggregates drifted from the invokers")
        assert(cluster[position] == invokers.values[index].snapshot, "invoker snapshot drifted from its state")
        return result
    }

    /// Writes a position of the view: its snapshot and its packed load, together.
    mutating func setSnapshot(_ snapshot: InvokerSnapshot?, at position: Int) {
        if tracing { traceShape(from: cluster[position], to: snapshot, at: position) }
        loads[position] = snapshot.map(InvokerLoad.init) ?? .absent
        cluster[position] = snapshot
    }

    /// Recomputes the aggregates (debug builds check this after every change).
    var aggregatesAreCurrent: Bool {
        var sizes: [UInt32: Int] = [:]
        for invoker in invokers.values where !invoker.draining { sizes[invoker.memoryMB, default: 0] += 1 }
        return invokersWithRoom == invokers.values.count(where: { $0.canTake(memoryMB: 1) }) && sizes == memorySizes
            && loads == cluster.map { $0.map(InvokerLoad.init) ?? .absent }
    }

    /// Moves an invoker's share of the aggregates from `before` to `after`, touching only what
    /// changed: an invoker that fills up or frees its last slot keeps its memory size, so the
    /// sizes table is left alone (removing the size and adding it back wrote the table twice,
    /// with a hash each time, on every such turn: several times per round trip under load).
    mutating func reaccount(from before: AggregateShare, to after: AggregateShare) {
        if before.hasRoom != after.hasRoom { invokersWithRoom += after.hasRoom ? 1 : -1 }
        if before.memorySize != after.memorySize {
            countMemorySize(before.memorySize, by: -1)
            countMemorySize(after.memorySize, by: 1)
        }
    }

    /// Adds (`1`) or removes (`-1`) an invoker's share of the aggregates.
    mutating func account(_ share: AggregateShare, by delta: Int) {
        if share.hasRoom { invokersWithRoom += delta }
        countMemorySize(share.memorySize, by: delta)
    }

    private mutating func countMemorySize(_ memoryMB: UInt32?, by delta: Int) {
        guard let memoryMB else { return }
        let count = memorySizes[memoryMB, default: 0] + delta
        memorySizes[memoryMB] = count > 0 ? count : nil
    }

    /// A snapshot of one invoker, as strategies see it.
    public func invoker(_ id: String) -> InvokerSnapshot? { invokers[id]?.snapshot }

    // MARK: Events

    /// Handles one event at time `now`, appending the resulting actions to `actions`.
    @_specialize(exported: true, where Payload == SharedFrame)
    public mutating func handle(_ event: BrokerEvent<Payload>, now: Timestamp, into actions: inout [BrokerAction<Payload>]) {
        if now > self.now { self.now = now }
        switch event {
        case .received(let endpoint, let route, let decoded, let opaque):
            handleReceived(endpoint, route, decoded, opaque: opaque, now: now, into: &actions)
        case .tick:
            tick(into: &actions)
        case .dispatchFailed(let route, let header, let payload, let unreachable):
            dispatchFailed(route: route, header: header, payload: payload, unreachable: unreachable, into: &actions)
        case .answerUndeliverable(let route, let answer, let result):
            answerUndeliverable(route: route, answer: answer, result: result, into: &actions)
        case .beginShutdown:
            beginShutdown(into: &actions)
        case .finishShutdown:
            finishShutdown(into: &actions)
        case .overflowRejected(let id, let reason):
            if let item = waiting.remove(id) {
                answer(AnswerHeader(activationID: id, kind: .overloaded, reason: reason), result: nil, to: item.header.answerTo, arrivedAt: item.enqueuedAt, into: &actions)
            }
        case .recovered(let items):
            recover(items, into: &actions)
        case .publicationUndelivered:
            publicationUndelivered()
        case .replyUndelivered:
            counters.repliesUndelivered += 1
        case .authentication(_, let accepted):
            if accepted { counters.authenticationsAccepted += 1 } else { counters.authenticationsRefused += 1 }
        case .recoveredUncertain(let headers, let reason):
            recoverUncertain(headers, reason: reason, into: &actions)
        case .overflowWithheld(let ids, _):
            withhold(ids, into: &actions)
        case .membersChanged(let list):
            membersChanged(list, into: &actions)
        case .otherMembersSlots(let slots):
            otherMembersSlots = slots
            updateLimitShare()
            drainWaiting(into: &actions)
        case .endOfBatch:
            flushPendingPlacement(into: &actions)
        }
    }

    /// `handle(.received(...))` without building the event: what the shell calls for every
    /// message it takes from a socket.
    @_specialize(exported: true, where Payload == SharedFrame)
    public mutating func handleReceived(_ endpoint: Endpoint, _ route: RoutingID, _ decoded: Result<Message, ProtocolError>,
                                        opaque: Payload?, now: Timestamp, into actions: inout [BrokerAction<Payload>]) {
        if now > self.now { self.now = now }
        switch decoded {
        case .success(let message):
            if endpoint == .controller {
                controllerSent(message, from: route, opaque: opaque, into: &actions)
            } else {
                invokerSent(message, from: route, opaque: opaque, into: &actions)
            }
        case .failure(let error):
            protocolError(error, endpoint: endpoint, from: route, into: &actions)
        }
    }

    /// Convenience for tests and tools: handle one event and return its actions.
    public mutating func handle(_ event: BrokerEvent<Payload>, now: Timestamp) -> [BrokerAction<Payload>] {
        var actions: [BrokerAction<Payload>] = []
        handle(event, now: now, into: &actions)
        return actions
    }

    // MARK: Invalid input (§7)

    mutating func protocolError(_ error: ProtocolError, endpoint: Endpoint, from route: RoutingID, into actions: inout [BrokerAction<Payload>]) {
        counters.protocolErrorsByCode[error.code.rawValue, default: 0] += 1
        actions.append(.notice(.protocolError(endpoint, route, code: error.code.name, reason: error.reason)))
        // An ACTIVATE whose id was read gets a `rejected` answer, so the caller's request
        // completes, unless the id is taken (its owner keeps its single answer).
        if endpoint == .controller, error.command == .activate, let id = error.activationID, isKnownActivation(id) {
            reply(.controller, route, .duplicateActivation,
                  "activation \(id) is already waiting or in flight; this ACTIVATE was also invalid: \(error.reason) (§7)",
                  activationID: id, into: &actions)
            return
        }
        if endpoint == .controller, error.command == .activate, let id = error.activationID,
           let controllerID = controllerIDByRoute[route] {
            counters.activationsReceived += 1
            answer(AnswerHeader(activationID: id, kind: .rejected, reason: error.reason), result: nil,
                   to: controllerID, arrivedAt: now, into: &actions)
            return
        }
        actions.append(.send(endpoint, route, .error(ErrorReport(code: error.code, activationID: error.activationID ?? "", reason: error.reason)), opaque: nil))
    }

    mutating func isKnownActivation(_ id: String) -> Bool {
        inFlight.find(id) != nil || waiting.contains(id)
    }

    mutating func reply(_ endpoint: Endpoint, _ route: RoutingID, _ code: ErrorCode, _ reason: String,
                        activationID: String = "", into actions: inout [BrokerAction<Payload>]) {
        counters.protocolErrorsByCode[code.rawValue, default: 0] += 1
        actions.append(.send(endpoint, route, .error(ErrorReport(code: code, activationID: activationID, reason: reason)), opaque: nil))
    }

    // MARK: Activations

    mutating func activate(_ incoming: RoutingHeader, payload: Payload?, from controllerID: String,
                           route: RoutingID, into actions: inout [BrokerAction<Payload>]) {
        guard let payload else { preconditionFailure("ACTIVATE decoded without its payload frame") }
        // Room freed earlier in this batch goes to work that waited before this one (§6.1).
        flushPendingPlacement(into: &actions)
        if isKnownActivation(incoming.activationID) {
            reply(.controller, route, .duplicateActivation,
                  "activation \(incoming.activationID) is already waiting or in flight (§4.6)",
                  activationID: incoming.activationID, into: &actions)
            return
        }
        counters.activationsReceived += 1
        var header = incoming
        if header.answerTo.isEmpty { header.answerTo = controllerID }
        let id = header.activationID
        traceArrival(header)

        if recentlyFinished.contains(id) {
            // Its earlier run timed out or lost its invoker and may still be running: a late
            // RESULT of that run must not answer this one (§4.6, issue 13 item 9).
            answer(AnswerHeader(activationID: id, kind: .rejected,
                                reason: "activation id \(id) belonged to an activation answered timeout or invokerLost that may still be running; use a new id (§4.6)"),
                   result: nil, to: header.answerTo, arrivedAt: now, into: &actions)
            return
        }
        if shuttingDown {
            answer(AnswerHeader(activationID: id, kind: .overloaded, reason: "broker is shutting down"), result: nil, to: header.answerTo, arrivedAt: now, into: &actions)
            return
        }
        if let reason = unplaceableReason(header) {
            answer(AnswerHeader(activationID: id, kind: .rejected, reason: reason), result: nil, to: header.answerTo, arrivedAt: now, into: &actions)
            return
        }
        let item = WaitingActivation(header: header, payload: payload, enqueuedAt: now)
        // A newcomer goes straight to an invoker only if nobody of its namespace waits and
        // the namespace is below its limit; otherwise it queues behind them (FIFO per namespace).
        if waiting.waiting(namespace: header.namespace) == 0 && belowLimit(header.namespace) {
            switch decide(header, into: &actions) {
            case .place(let invoker):
                dispatch(item, at: invoker, into: &actions)
                return
            case .force(let invoker):
                counters.forcedPlacements += 1
                dispatch(item, at: invoker, into: &actions)
                return
            case .reject(let reason):
                answer(AnswerHeader(activationID: id, kind: .rejected, reason: reason), result: nil, to: header.answerTo, arrivedAt: now, into: &actions)
                return
            case .wait:
                break
            }
        }
        guard enqueue(item, into: &actions) else { return }
        drainWaiting(into: &actions)
    }

    func belowLimit(_ namespace: String) -> Bool {
        guard let limit = configuration.concurrencyLimit(of: namespace) else { return true }
        return namespaceInFlight[namespace, default: 0] < sharedLimit(limit)
    }

    /// A reason this activation can never be placed, judged against the invokers registered now.
    func unplaceableReason(_ header: RoutingHeader) -> String? {
        if !header.targetInvoker.isEmpty {
            guard let target = invokers[header.targetInvoker] else {
                return "target invoker '\(header.targetInvoker)' is not connected"
            }
            // A drained target (0 0, §4.8) is judged when it takes work again: until then the
            // activation waits for it, as it would in the invoker's Kafka topic.
            if !target.draining, header.memoryMB > target.memoryMB {
                return "needs \(header.memoryMB) MB; target invoker '\(target.id)' has \(target.memoryMB) MB"
            }
            return nil
        }
        // Judged against invokers that take work; while all drain, work waits for them.
        if let largest = memorySizes.keys.max(), header.memoryMB > largest {
            return "needs \(header.memoryMB) MB; the largest invoker has \(largest) MB"
        }
        return nil
    }

    /// Puts an activation in the waiting queue, or answers it if a bound says no (§6.1).
    /// Returns whether it waits.
    @discardableResult
    mutating func enqueue(_ item: WaitingActivation<Payload>, atFront: Bool = false, journal: Bool = true,
                          alreadyWaited: Duration = .zero, into actions: inout [BrokerAction<Payload>]) -> Bool {
        let header = item.header
        if let (kind, reason) = refusal(of: header, payloadBytes: item.payload.count) {
            answer(AnswerHeader(activationID: header.activationID, kind: kind, reason: reason), result: nil, to: header.answerTo, arrivedAt: item.enqueuedAt, into: &actions)
            return false
        }
        // Work recovered after a restart keeps the wait it already had (the clock of this run
        // may be younger than that wait, so count from now).
        let limit = configuration.waitLimit(for: header)
        let deadline = alreadyWaited > .zero ? now + (alreadyWaited < limit ? limit - alreadyWaited : .zero)
                                             : item.enqueuedAt + limit
        waiting.add(.init(header: header, payload: item.payload, enqueuedAt: item.enqueuedAt, deadline: deadline), atFront: atFront)
        if tracing { traceWaits(header.activationID) }
        if configuration.persistOverflow && journal {
            actions.append(.overflowAppend(header, payload: item.payload, enqueuedAt: item.enqueuedAt))
        }
        return true
    }

    /// Why the waiting queue cannot take this activation now (§6.1), or nil.
    func refusal(of header: RoutingHeader, payloadBytes: Int) -> (AnswerKind, String)? {
        if waiting.count >= configuration.maxWaiting {
            return (.overloaded, "waiting queue is full (\(configuration.maxWaiting) activations)")
        } else if waiting.bytes + payloadBytes > configuration.maxWaitingBytes {
            return (.overloaded, "waiting queue is full (\(configuration.maxWaitingBytes) payload bytes)")
        } else if waiting.waiting(action: header.action) >= configuration.maxWaitingPerAction {
            return (.throttled, "\(configuration.maxWaitingPerAction) activations of action '\(header.action)' are already waiting")
        } else if waiting.waiting(namespace: header.namespace) >= configuration.maxWaitingPerNamespace {
            return (.throttled, "namespace '\(header.namespace)' already has \(configuration.maxWaitingPerNamespace) activations waiting")
        }
        return nil
    }

    /// Takes an activation out of the waiting queue (placed or answered) and journals that.
    mutating func takeWaiting(_ id: String, into actions: inout [BrokerAction<Payload>]) -> WaitingActivation<Payload>? {
        guard let item = waiting.remove(id) else { return nil }
        if configuration.persistOverflow { actions.append(.overflowConsume(activationID: id)) }
        return WaitingActivation(header: item.header, payload: item.payload, enqueuedAt: item.enqueuedAt)
    }

    /// Whether any invoker has a free slot at all. O(1).
    var anyRoom: Bool { invokersWithRoom > 0 }

    /// Binds waiting work to invokers with room (late binding, §6.1), fairly: namespaces take
    /// turns, one activation each per turn, each offering its oldest activation that fits
    /// (looking at most `waitingLookahead` deep). Namespaces at their concurrency limit are
    /// skipped. Turns repeat while anything was placed and any invoker has room.
    mutating func drainWaiting(into actions: inout [BrokerAction<Payload>]) {
        placementPending = false
        guard !waiting.isEmpty, !invokers.isEmpty else { return }
        var placedAny = true
        // Room only shrinks during a drain, so a namespace with nothing that fits now is
        // skipped for the rest of it (keeps one drain O(namespaces x look-ahead) per pass).
        var blocked: [Int] = []
        var turn: [Int] = []
        swap(&turn, &laneTurn)
        defer { swap(&turn, &laneTurn) }
        while placedAny && !waiting.isEmpty && anyRoom {
            placedAny = false
            waiting.lanesInTurn(into: &turn)
            for lane in turn where !blocked.contains(lane) {
                // The only namespace waiting keeps its turn while it places: nobody waits behind it.
                repeat {
                    if serveOne(lane, into: &actions) {
                        placedAny = true
                    } else {
                        blocked.append(lane)
                        break
                    }
                } while turn.count == 1 && anyRoom && !waiting.isEmpty
                if !anyRoom { return }
            }
        }
    }

    /// Places (or answers) the oldest activation of `lane` that can go now, looking at most
    /// `waitingLookahead` deep; returns whether one was placed.
    private mutating func serveOne(_ lane: Int, into actions: inout [BrokerAction<Payload>]) -> Bool {
        let namespace = waiting.namespace(of: lane)
        guard belowLimit(namespace) else { return false }
        waiting.compact(lane, limit: waitingLookahead)
        var after: Int64?
        var looked = 0
        while looked < waitingLookahead, let (candidate, token) = waiting.item(in: lane, after: after) {
            looked += 1
            after = token
            let id = candidate.header.activationID
            switch decide(candidate.header, into: &actions) {
            case .place(let invoker):
                if let item = takeWaiting(id, into: &actions) { dispatch(item, at: invoker, into: &actions) }
            case .force(let invoker):
                counters.forcedPlacements += 1
                if let item = takeWaiting(id, into: &actions) { dispatch(item, at: invoker, into: &actions) }
            case .reject(let reason):
                if let item = takeWaiting(id, into: &actions) {
                    answer(AnswerHeader(activationID: id, kind: .rejected, reason: reason), result: nil,
                           to: item.header.answerTo, arrivedAt: item.enqueuedAt, into: &actions)
                }
                continue
            case .wait:
                continue
            }
            waiting.served(lane)
            return true
        }
        return false
    }

    /// After a completion freed a slot: offer waiting work the room now, or at the end of the
    /// batch (`BrokerConfiguration.batchesPlacement`).
    mutating func placeWaitingAfterCompletion(into actions: inout [BrokerAction<Payload>]) {
        if configuration.batchesPlacement {
            placementPending = !waiting.isEmpty
        } else {
            drainWaiting(into: &actions)
        }
    }

    /// Offers slots freed earlier in this batch to waiting work, if any are pending.
    mutating func flushPendingPlacement(into actions: inout [BrokerAction<Payload>]) {
        if placementPending { drainWaiting(into: &actions) }
    }

    /// Waiting work a previous run left in the overflow store: queued again in order (it is
    /// already in the store, so not journaled twice) and offered to invokers.
    mutating func recover(_ items: [(header: RoutingHeader, payload: Payload, waited: Duration)], into actions: inout [BrokerAction<Payload>]) {
        for entry in items {
            let enqueuedAt = Timestamp(nanoseconds: now.nanoseconds > entry.waited.nanoseconds ? now.nanoseconds - entry.waited.nanoseconds : 0)
            counters.overflowRecovered += 1
            counters.activationsReceived += 1
            let item = WaitingActivation(header: entry.header, payload: entry.payload, enqueuedAt: enqueuedAt)
            if waiting.contains(entry.header.activationID) || inFlight.find(entry.header.activationID) != nil {
                if configuration.persistOverflow { actions.append(.overflowConsume(activationID: entry.header.activationID)) }
                continue
            }
            // A refusal is consumed before its answer is made, so the shell holds the answer
            // until the mark is synced (docs/ARCHITECTURE.md, "Overflow", rule 1).
            if let (kind, reason) = refusal(of: entry.header, payloadBytes: entry.payload.count) {
                if configuration.persistOverflow { actions.append(.overflowConsume(activationID: entry.header.activationID)) }
                answer(AnswerHeader(activationID: entry.header.activationID, kind: kind, reason: reason), result: nil,
                       to: entry.header.answerTo, arrivedAt: nil, into: &actions)
                continue
            }
            noteRecovered(entry.header)
            enqueue(item, journal: false, alreadyWaited: entry.waited, into: &actions)
        }
        drainWaiting(into: &actions)
    }

    /// Recovered work that may already have run: answered `systemError`, never dispatched. Its
    /// record is consumed first (the shell holds the ANSWER until that mark is synced).
    mutating func recoverUncertain(_ headers: [RoutingHeader], reason: String, into actions: inout [BrokerAction<Payload>]) {
        for header in headers {
            counters.overflowRecovered += 1
            counters.overflowUncertain += 1
            if configuration.persistOverflow { actions.append(.overflowConsume(activationID: header.activationID)) }
            if isKnownActivation(header.activationID) { continue }
            counters.activationsReceived += 1
            answer(AnswerHeader(activationID: header.activationID, kind: .systemError, reason: reason), result: nil,
                   to: header.answerTo, arrivedAt: nil, into: &actions)
        }
    }

    /// The overflow store broke: journaled activations stay in it for the next run and are
    /// forgotten here without an answer (docs/ARCHITECTURE.md, "Overflow", rule 3).
    mutating func withhold(_ ids: [String], into actions: inout [BrokerAction<Payload>]) {
        let withheld = Set(ids)
        for id in ids {
            counters.overflowWithheld += 1
            // A resubmission of the id in this run would run here and again in the next one.
            recentlyFinished.insert(id)
            if waiting.remove(id) != nil { continue }
            // Its DISPATCH was held back and never sent: free the slot, answer nothing.
            if let handle = inFlight.find(id) { _ = release(handle, id: id) }
        }
        // An answer kept for an absent controller must not reach it later either.
        let keeping = controllers.compactMap { id, controller in
            controller.parked.contains { withheld.contains($0.answer.activationID) } ? id : nil
        }
        for controllerID in keeping {
            guard var controller = controllers.removeValue(forKey: controllerID) else { continue }
            var kept = controller.parked
            kept.removeAll()
            for entry in controller.parked {
                if withheld.contains(entry.answer.activationID) { unpark(entry) } else { kept.append(entry) }
            }
            controller.parked = kept
            if controller.route != nil || !controller.parked.isEmpty { controllers[controllerID] = controller }
        }
        drainWaiting(into: &actions)
    }

    /// A placement decision with the chosen invoker's place in `invokers` (valid until an
    /// invoker is added or removed), so a DISPATCH does not look it up again.
    enum Placement {
        case place([String: InvokerState].Index)
        case force([String: InvokerState].Index)
        case reject(reason: String)
        case wait
    }

    /// Where `header` should run now, or why not.
    mutating func decide(_ header: RoutingHeader, into actions: inout [BrokerAction<Payload>]) -> Placement {
        if !header.targetInvoker.isEmpty {
            // The controller chose: honour it when that invoker is healthy and has room.
            guard let index = invokers.index(forKey: header.targetInvoker) else { return .wait }
            return readInvoker(at: index) { $0.canTake(memoryMB: header.memoryMB) } ? .place(index) : .wait
        }
        if invokers.isEmpty { return .wait }
        let request = PlacementRequest(header: header)
        let view = clusterView
        let decision = strategy.place(request, in: view)
        switch decision {
        case .place(let id):
            if let index = invokers.index(forKey: id), view.isEligible(readInvoker(at: index) { $0.position }, for: request) { return .place(index) }
        case .force(let id):
            if let index = invokers.index(forKey: id), view.isAllowed(invokers.values[index].snapshot, for: request) { return .force(index) }
        case .wait:
            return .wait
        case .reject(let reason):
            return .reject(reason: reason)
        }
        // A strategy named an invoker that may not take the work: a broken contract.
        // Keep the work waiting and say so.
        counters.strategyContractBroken += 1
        let named: String
        switch decision {
        case .place(let id), .force(let id): named = id
        default: named = ""
        }
        actions.append(.notice(.strategyContractBroken(strategy: strategyName, invokerID: named)))
        return .wait
    }

    mutating func dispatch(_ item: WaitingActivation<Payload>, at index: [String: InvokerState].Index, into actions: inout [BrokerAction<Payload>]) {
        let header = item.header
        let deadline = completionDeadline(timeLimitMilliseconds: header.timeLimitMilliseconds)
        let (position, idleWarm) = readInvoker(at: index) { invoker in
            (invoker.position, invoker.warm.isEmpty ? 0 : invoker.warm[header.action]?.idle ?? 0)
        }
        let handle = inFlight.insert(header.activationID, InFlightRecord(
            memoryMB: header.memoryMB, timeLimitMilliseconds: header.timeLimitMilliseconds,
            invokerPosition: Int32(position), deadline: deadline, enqueuedAt: item.enqueuedAt,
            answerTo: header.answerTo, namespace: header.namespace))
        let route = updateInvokerLoad(at: index) { invoker in
            invoker.usedSlots += 1
            invoker.usedMemoryMB += UInt64(header.memoryMB)
            invoker.inFlight.insert(handle)
            return invoker.route
        }
        // §4.12: this DISPATCH takes one of the idle containers the invoker's last report
        // announced, until the next report says how many are idle.
        if tracing { traceDispatch(header.activationID, handle: handle, warm: idleWarm > 0, position: position) }
        if idleWarm > 0 {
            let idle = idleWarm
            let snapshot = updateInvoker(at: index) { invoker in
                invoker.warm[header.action]?.idle = idle - 1
                return invoker.snapshot
            }
            strategy.invokerChanged(snapshot)
        }
        if countsNamespaceInFlight { namespaceInFlight[header.namespace, default: 0] += 1 }
        deadlines.schedule(handle, at: deadline)
        counters.dispatched += 1
        recordLatency(since: item.enqueuedAt, as: .waited)
        actions.append(.send(.invoker, route, .dispatch(header), opaque: item.payload))
    }

    /// The id of the invoker at a record's position (it is registered while it has work).
    func invokerID(of record: InFlightRecord) -> String {
        cluster[Int(record.invokerPosition)]?.id ?? ""
    }

    /// Ends an in-flight activation's life on its invoker: frees the slot and the deadline.
    /// `id` is the activation's id, which every caller has at hand (rebuilding it from the
    /// record would allocate a string per completion).
    /// `invokerIndex`: where the invoker is in `invokers`, when the caller has looked it up.
    @discardableResult
    mutating func release(_ handle: InFlightTable.Handle, id: String, cancelDeadline: Bool = true,
                          invokerIndex: [String: InvokerState].Index? = nil) -> InFlightRecord {
        let record = inFlight.remove(handle)
        if cancelDeadline { deadlines.cancel(handle) }
        if countsNamespaceInFlight, let index = namespaceInFlight.index(forKey: record.namespace) {
            if namespaceInFlight.values[index] > 1 { namespaceInFlight.values[index] -= 1 } else { namespaceInFlight.remove(at: index) }
        }
        let invokerID = invokerID(of: record)
        if let index = invokerIndex ?? invokers.index(forKey: invokerID) {
            updateInvokerLoad(at: index) { invoker in
                invoker.usedSlots -= 1
                invoker.usedMemoryMB -= UInt64(record.memoryMB)
                invoker.inFlight.remove(handle)
            }
        }
        strategy.activationCompleted(CompletedActivation(activationID: id, namespace: record.namespace, memoryMB: record.memoryMB),
                                     invokerID: invokerID)
        return record
    }

    /// `now + configuration.completionTimeout(timeLimitMilliseconds:)`, in integers.
    func completionDeadline(timeLimitMilliseconds: UInt32) -> Timestamp {
        // Saturating: a peer's time limit times a configured multiplier must not wrap around
        // into a deadline that has already passed.
        let limit = max(UInt64(timeLimitMilliseconds) * 1_000_000, completionFloorNanoseconds)
        let (scaled, overflow) = limit.multipliedReportingOverflow(by: completionMultiplier)
        // Each part at most Int64.max nanoseconds, as when they were `Duration`s.
        let longest = UInt64(Int64.max)
        return now.adding(nanoseconds: min(overflow ? .max : scaled, longest)).adding(nanoseconds: min(completionSlackNanoseconds, longest))
    }

    // MARK: Answers (§6)

    /// Sends (or parks) the single answer of an activation and counts it.
    /// `arrivedAt`: when its ACTIVATE arrived, for the ACTIVATE-to-ANSWER histogram (nil: not
    /// known in this run, as for recovered work).
    /// `handle`: the in-flight handle of an activation that ran (for its trace, `recordsTrace`).
    mutating func answer(_ answer: AnswerHeader, result: Payload?, to controllerID: String, arrivedAt: Timestamp?,
                         handle: InFlightTable.Handle? = nil, into actions: inout [BrokerAction<Payload>]) {
        counters.answersByKind[Int(answer.kind.rawValue)] += 1
        if let arrivedAt { recordLatency(since: arrivedAt, as: .answered) }
        if tracing { traceAnswer(answer.activationID, kind: answer.kind, handle: handle) }
        forgetRecovered(answer.activationID, controllerID: controllerID)
        deliver(answer, result: result, to: controllerID, into: &actions)
    }
}

/// What one invoker contributes to the core's aggregates.
struct AggregateShare: Equatable {
    /// It can take an activation now (`canTake(memoryMB: 1)`).
    var hasRoom: Bool
    /// Its memory, counted among the sizes activations are judged against; nil while draining.
    var memorySize: UInt32?

    init(_ invoker: borrowing InvokerState) {
        hasRoom = invoker.canTake(memoryMB: 1)
        memorySize = invoker.draining ? nil : invoker.memoryMB
    }
}

/// An activation waiting for room.
struct WaitingActivation<Payload> {
    var header: RoutingHeader
    var payload: Payload
    var enqueuedAt: Timestamp
}
