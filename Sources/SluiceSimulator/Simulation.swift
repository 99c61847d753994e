import HeapModule
import SluiceCore
import SluicePluginAPI
import SluiceProtocol

/// A deterministic discrete-event simulation of one broker and its invokers.
///
/// The broker is the real `BrokerCore` (placement through the strategy, late binding, the
/// waiting queue, expiry, health), driven on a virtual clock exactly as the I/O shell drives
/// it: every peer message is a decoded `BrokerEvent.received`, and the simulation executes the
/// actions the core returns. Only the peers are modelled:
///
/// - **Controller** `c0`: says HELLO, sends each arrival as ACTIVATE, heartbeats, and records
///   every ANSWER (latency = answer time minus arrival time).
/// - **Invokers**: say HELLO with their capacity (`ClusterModel`), heartbeat with their warm
///   report (§4.12), and on DISPATCH run the activation:
///   - an idle warm container of the action runs it at once (warm start);
///   - otherwise a container is created (cold start, a duration drawn from
///     `coldStartSeconds`), first evicting idle containers least recently used until its
///     memory fits; if busy containers hold all the memory (only after a strategy forced work
///     onto a full invoker) the activation queues in the invoker until memory frees, as
///     OpenWhisk's container pool buffers it;
///   - running activations share the invoker's cores (processor sharing: with n running on c
///     cores each progresses at min(1, c/n));
///   - at the end the container becomes idle, and the invoker sends COMPLETION with the
///     result and its warm report, so strategies see warm containers as from a real invoker;
///   - idle containers unused for `keepAliveSeconds` are evicted (checked every heartbeat).
///
/// Time is in seconds (Double); the core gets nanosecond timestamps. Ties between events at
/// the same instant are broken by the order they were scheduled, so a seed fixes the result.
/// Network and broker processing take no time.
///
/// **Several brokers** (`settings.brokers`, docs/CLUSTER.md): each is its own `BrokerCore`
/// with its own strategy instance and owns a share of the invokers (invoker i belongs to
/// broker i mod N). The controller says HELLO to every broker and sends each activation to one,
/// chosen by power-of-two choices over what the brokers last advertised (free slots less
/// waiting work, refreshed every heartbeat) corrected by what the controller itself sent and
/// heard back since. With one broker this is exactly the single-broker simulation.
final class Simulation {
    let workload: Workload
    let settings: SimulationSettings
    var cores: [BrokerCore<[UInt8]>]
    var actions: [BrokerAction<[UInt8]>] = []
    /// The broker each invoker belongs to, by invoker index.
    var invokerBroker: [Int] = []
    /// Per broker: what it advertised at the last heartbeat (free slots less waiting), and
    /// activations the controller sent to it / got answered from it since then.
    var advertised: [Int] = []
    var advertisedSlots: [Int] = []
    var sentSinceAdvert: [Int] = []
    var answeredSinceAdvert: [Int] = []
    /// Which broker each activation went to, by arrival index.
    var brokerOf: [Int8]
    var choiceRandom: SimulationRandom
    var random: SimulationRandom
    var now = 0.0
    var inBroker = false

    // Peers.
    let controllerRoute = RoutingID(Array("c0".utf8))
    var invokers: [InvokerModel] = []
    var invokerIndexByRoute: [RoutingID: Int] = [:]
    var events = EventQueue()
    var headers: [RoutingHeader]

    // Per activation, indexed by arrival.
    var answerKind: [UInt8]
    var answerTime: [Double]
    var cold: [Bool]
    var placedOn: [Int16]
    var dispatchTime: [Double]
    var outstanding = 0
    var nextArrival = 0

    // Counted from the end of the warm-up.
    var creations = 0
    var evictions = 0

    init(workload: Workload, settings: SimulationSettings, strategies: [any RoutingStrategy]) {
        precondition(strategies.count == max(settings.brokers, 1), "one strategy instance per broker")
        self.workload = workload
        self.settings = settings
        var configuration = BrokerConfiguration()
        configuration.brokerID = "sim"
        configuration.maxWaitingAge = .nanoseconds(Int64(settings.maxWaitingAgeSeconds * 1e9))
        configuration.maxWaiting = settings.maxWaiting
        configuration.eligibility = settings.eligibility
        cores = strategies.map { BrokerCore(configuration: configuration, strategy: $0, start: .zero) }
        random = SimulationRandom(seed: settings.seed ^ 0xC01D_57A7)
        choiceRandom = SimulationRandom(seed: settings.seed ^ 0xB20C_E125)
        advertised = Array(repeating: 0, count: strategies.count)
        advertisedSlots = advertised
        sentSinceAdvert = advertised
        answeredSinceAdvert = advertised
        headers = workload.actions.map { action in
            RoutingHeader(activationID: "", namespace: action.namespace, action: action.name, memoryMB: action.memoryMB,
                          timeLimitMilliseconds: UInt32(min(action.timeLimitSeconds * 1000, Double(UInt32.max))))
        }
        let count = workload.arrivals.count
        answerKind = Array(repeating: .max, count: count)
        answerTime = Array(repeating: 0, count: count)
        cold = Array(repeating: false, count: count)
        placedOn = Array(repeating: -1, count: count)
        dispatchTime = Array(repeating: 0, count: count)
        brokerOf = Array(repeating: 0, count: count)
    }

    var brokerCount: Int { cores.count }

    var timestamp: Timestamp { Timestamp(nanoseconds: UInt64((now * 1e9).rounded())) }
    var measuring: Bool { now >= settings.warmUpSeconds }

    // MARK: Driving the core

    func send(_ endpoint: Endpoint, _ route: RoutingID, _ message: Message, opaque: [UInt8]? = nil, broker: Int) {
        deliver(.received(endpoint, route, .success(message), opaque: opaque), to: broker)
    }

    /// An invoker's message goes to the broker it belongs to.
    func send(invoker index: Int, _ message: Message, opaque: [UInt8]? = nil) {
        send(.invoker, invokers[index].route, message, opaque: opaque, broker: invokerBroker[index])
    }

    /// The controller's session messages go to every broker.
    func sendToEveryBroker(_ message: Message) {
        for broker in cores.indices { send(.controller, controllerRoute, message, broker: broker) }
    }

    func deliver(_ event: BrokerEvent<[UInt8]>, to broker: Int) {
        precondition(!inBroker, "the simulation re-entered the broker core")
        inBroker = true
        cores[broker].handle(event, now: timestamp, into: &actions)
        inBroker = false
        // Executing actions never calls the core (invokers only schedule events), so the list
        // is stable while it is read.
        for action in actions {
            guard case .send(let endpoint, let route, let message, _) = action else { continue }
            switch (endpoint, message) {
            case (.invoker, .dispatch(let header)):
                guard let invoker = invokerIndexByRoute[route] else { preconditionFailure("dispatch to an unknown route") }
                dispatched(activation(header.activationID), to: invoker)
            case (.controller, .answer(let answer)):
                let index = activation(answer.activationID)
                precondition(Int(brokerOf[index]) == broker, "activation \(index) answered by a broker it was not sent to")
                answeredSinceAdvert[broker] += 1
                answered(index, kind: answer.kind)
            default:
                break
            }
        }
        actions.removeAll(keepingCapacity: true)
    }

    func activation(_ id: String) -> Int {
        guard let index = Int(id.dropFirst()) else { preconditionFailure("activation id \(id) is not the simulator's") }
        return index
    }

    func answered(_ index: Int, kind: AnswerKind) {
        precondition(answerKind[index] == .max, "activation \(index) answered twice")
        answerKind[index] = kind.rawValue
        answerTime[index] = now
        outstanding -= 1
    }

    // MARK: Run

    func run() {
        sendToEveryBroker(.controllerHello(controllerID: "c0"))
        for index in 0..<settings.cluster.invokers { addInvoker(index) }
        advertise()
        if let churn = settings.churn {
            events.schedule(churn.joinAt, .join)
            events.schedule(churn.drainAt, .drain(Int32(churn.leaverIndex)))
        }
        var nextTick = settings.tickSeconds
        var nextHeartbeat = settings.heartbeatSeconds
        let arrivals = workload.arrivals
        let lastArrival = arrivals.last?.time ?? 0
        let churnEnd = settings.churn.map { max($0.joinAt, $0.drainAt) } ?? 0
        let endCap = max(lastArrival, churnEnd) + 3600
        while true {
            let arrivalTime = nextArrival < arrivals.count ? arrivals[nextArrival].time : .infinity
            if arrivalTime == .infinity && outstanding == 0 && now >= churnEnd { break }
            let eventTime = events.nextTime
            if eventTime <= arrivalTime && eventTime <= nextTick && eventTime <= nextHeartbeat {
                let event = events.pop()
                now = max(now, event.time)
                handle(event.kind)
            } else if arrivalTime <= nextTick && arrivalTime <= nextHeartbeat {
                now = max(now, arrivalTime)
                arrive(nextArrival)
                nextArrival += 1
            } else if nextTick <= nextHeartbeat {
                now = max(now, nextTick)
                nextTick += settings.tickSeconds
                for broker in cores.indices { deliver(.tick, to: broker) }
            } else {
                now = max(now, nextHeartbeat)
                nextHeartbeat += settings.heartbeatSeconds
                heartbeats()
            }
            if now > endCap { break }
        }
    }

    func arrive(_ index: Int) {
        let arrival = workload.arrivals[index]
        var header = headers[Int(arrival.action)]
        header.activationID = "a\(index)"
        outstanding += 1
        let broker = chooseBroker(action: Int(arrival.action))
        brokerOf[index] = Int8(broker)
        sentSinceAdvert[broker] += 1
        send(.controller, controllerRoute, .activate(header), opaque: [], broker: broker)
    }

    /// The broker for an activation of `action` (`settings.brokerChoice`).
    func chooseBroker(action: Int) -> Int {
        guard brokerCount > 1 else { return 0 }
        switch settings.brokerChoice {
        case .powerOfTwo:
            return powerOfTwoBroker()
        case .actionAffinity:
            // Bounded-load affinity: home unless it has no room or its load is over
            // `affinityBound` times the mean load; then the broker with the lowest load.
            let home = homeBroker[action]
            let loads = cores.indices.map(estimatedLoad)
            let mean = loads.reduce(0, +) / Double(loads.count)
            if loads[home] <= max(mean * Self.affinityBound, 1e-9) && estimatedRoom(home) > 0 { return home }
            var best = home
            for broker in cores.indices where loads[broker] < loads[best] { best = broker }
            return best
        }
    }

    /// How far over the mean load a home broker may be before its actions go elsewhere
    /// (1.25, 1.5 and 2 were measured; docs/CLUSTER.md, "What partitioning costs").
    static let affinityBound = 1.5

    /// Each action's home broker: a hash of its namespace and name over the brokers.
    lazy var homeBroker: [Int] = workload.actions.map { action in
        Int(StableHash.fnv1a(action.namespace + "/" + action.name) % UInt64(brokerCount))
    }

    /// Power of two choices over the controller's estimate of each broker's room.
    func powerOfTwoBroker() -> Int {
        let first = choiceRandom.index(below: brokerCount)
        var second = choiceRandom.index(below: brokerCount - 1)
        if second >= first { second += 1 }
        let (a, b) = (estimatedRoom(first), estimatedRoom(second))
        return a == b ? min(first, second) : (a > b ? first : second)
    }

    func estimatedRoom(_ broker: Int) -> Int {
        advertised[broker] - sentSinceAdvert[broker] + answeredSinceAdvert[broker]
    }

    /// Share of a broker's advertised slots taken (above 1: work waits there).
    func estimatedLoad(_ broker: Int) -> Double {
        let slots = max(advertisedSlots[broker], 1)
        return Double(slots - estimatedRoom(broker)) / Double(slots)
    }

    /// What each broker tells controllers with its heartbeat: free slots less waiting work.
    func advertise() {
        for broker in cores.indices {
            advertised[broker] = cores[broker].freeSlots - cores[broker].waitingCount
            advertisedSlots[broker] = cores[broker].snapshotSlots
            sentSinceAdvert[broker] = 0
            answeredSinceAdvert[broker] = 0
        }
    }

    func heartbeats() {
        sendToEveryBroker(.heartbeat)
        advertise()
        for index in invokers.indices where invokers[index].registered {
            expireKeepAlive(index)
            if invokers[index].warmChanged {
                invokers[index].warmChanged = false
                send(invoker: index, .invokerHeartbeat(warmReport(index)))
            } else {
                send(invoker: index, .heartbeat)
            }
        }
    }

    func handle(_ kind: EventQueue.Kind) {
        switch kind {
        case .coldStartDone(let invoker, let activation, let container):
            guard invokers[Int(invoker)].registered else { return }
            startRunning(Int(activation), container: Int(container), on: Int(invoker))
        case .processorSharing(let invoker, let generation):
            guard invokers[Int(invoker)].generation == generation else { return }
            finishRunning(on: Int(invoker))
        case .join:
            addInvoker(invokers.count)
        case .drain(let index):
            let index = Int(index)
            guard index < invokers.count, invokers[index].registered else { return }
            invokers[index].draining = true
            send(invoker: index, .capacity(Capacity(memoryMB: 0, slots: 0)))
            events.schedule(now + 1, .leaveWhenIdle(Int32(index)))
        case .leaveWhenIdle(let index):
            let index = Int(index)
            if invokers[index].inFlight == 0 {
                invokers[index].registered = false
                send(invoker: index, .goodbye)
            } else {
                events.schedule(now + 1, .leaveWhenIdle(Int32(index)))
            }
        }
    }

    func addInvoker(_ index: Int) {
        let cluster = settings.cluster
        let id = "invoker\(index)"
        let route = RoutingID(Array(id.utf8))
        invokers.append(InvokerModel(id: id, route: route, cores: Double(cluster.cores), memoryMB: Int(cluster.memoryMB)))
        invokerIndexByRoute[route] = index
        invokerBroker.append(index % brokerCount)
        invokers[index].registered = true
        send(invoker: index, .invokerHello(InvokerHello(invokerID: id, memoryMB: cluster.memoryMB, slots: cluster.slots)))
    }

    // MARK: Invokers

    func dispatched(_ activation: Int, to invoker: Int) {
        placedOn[activation] = Int16(invoker)
        dispatchTime[activation] = now
        invokers[invoker].inFlight += 1
        // Behind work already queued in the invoker, else started now (or queued if memory is
        // held by busy containers).
        if !invokers[invoker].pending.isEmpty || !tryStart(activation, on: invoker) {
            invokers[invoker].pending.append(Int32(activation))
        }
    }

    /// Starts `activation` in a warm container, or creates one if memory can be found. False:
    /// busy containers hold all the memory (over-commit); the caller queues it.
    func tryStart(_ activation: Int, on invoker: Int) -> Bool {
        let action = workload.arrivals[activation].action
        if let container = invokers[invoker].takeIdle(action, now: now) {
            startRunning(activation, container: container, on: invoker)
            return true
        }
        let memory = Int(workload.actions[Int(action)].memoryMB)
        while invokers[invoker].usedMemoryMB + memory > invokers[invoker].memoryMB {
            guard invokers[invoker].evictLeastRecentlyUsed() else { return false }
            if measuring { evictions += 1 }
        }
        let container = invokers[invoker].create(action, memoryMB: memory, now: now)
        if measuring { creations += 1 }
        cold[activation] = true
        let delay = random.uniform(in: settings.cluster.coldStartSeconds)
        events.schedule(now + delay, .coldStartDone(invoker: Int32(invoker), activation: Int32(activation), container: Int32(container)))
        return true
    }

    func startRunning(_ activation: Int, container: Int, on invoker: Int) {
        invokers[invoker].advance(to: now)
        invokers[invoker].running.insert(.init(finish: invokers[invoker].virtualTime + workload.arrivals[activation].work,
                                             activation: Int32(activation), container: Int32(container)))
        reschedule(invoker)
    }

    func reschedule(_ invoker: Int) {
        invokers[invoker].generation &+= 1
        guard let first = invokers[invoker].running.min else { return }
        let remaining = max(0, first.finish - invokers[invoker].virtualTime)
        events.schedule(now + remaining / invokers[invoker].rate, .processorSharing(invoker: Int32(invoker), generation: invokers[invoker].generation))
    }

    func finishRunning(on invoker: Int) {
        invokers[invoker].advance(to: now)
        var finished: [ProcessorSharingJob] = []
        let horizon = invokers[invoker].virtualTime + 1e-9 * max(1, invokers[invoker].virtualTime)
        while let first = invokers[invoker].running.min, first.finish <= horizon {
            finished.append(invokers[invoker].running.popMin()!)
        }
        if finished.isEmpty {
            reschedule(invoker)
            return
        }
        for job in finished {
            invokers[invoker].release(Int(job.container), now: now)
            invokers[invoker].inFlight -= 1
        }
        // Work queued in the invoker (over-commit) takes freed memory first, in order.
        while let next = invokers[invoker].pending.first, tryStart(Int(next), on: invoker) {
            invokers[invoker].pending.removeFirst()
        }
        reschedule(invoker)
        for job in finished {
            invokers[invoker].warmChanged = false
            let completion = CompletionHeader(activationID: "a\(job.activation)", includesResult: true, outcome: .success,
                                              warm: warmReport(invoker))
            send(invoker: invoker, .completion(completion), opaque: [])
        }
    }

    func expireKeepAlive(_ invoker: Int) {
        let keepAlive = settings.cluster.keepAliveSeconds
        let evicted = invokers[invoker].evictIdle(olderThan: now - keepAlive)
        if measuring { evictions += evicted }
    }

    func warmReport(_ invoker: Int) -> WarmReport {
        let model = invokers[invoker]
        var entries: [WarmReport.Entry] = []
        entries.reserveCapacity(model.totalByAction.count)
        for action in model.totalByAction.keys.sorted() {
            let total = model.totalByAction[action]!
            let idle = model.idleByAction[action]?.count ?? 0
            entries.append(WarmReport.Entry(action: workload.actions[Int(action)].name, idle: UInt16(clamping: idle),
                                            total: UInt16(clamping: total)))
        }
        return WarmReport(entries)
    }
}

/// One activation sharing an invoker's cores: it ends when the invoker's virtual time (the
/// service each running activation has received) reaches `finish`.
struct ProcessorSharingJob {
    var finish: Double
    var activation: Int32
    var container: Int32
}

/// A modelled invoker: its containers and the activations running on its cores.
struct InvokerModel {
    struct Container {
        var action: Int32
        var busy: Bool
        var lastUsed: Double
        var alive: Bool
        var memoryMB: Int
    }

    let id: String
    let route: RoutingID
    let cores: Double
    let memoryMB: Int
    var registered = false
    var draining = false
    var inFlight = 0
    var containers: [Container] = []
    var freeContainerSlots: [Int] = []
    /// Idle containers per action, least recently used first.
    var idleByAction: [Int32: [Int]] = [:]
    var totalByAction: [Int32: Int] = [:]
    var usedMemoryMB = 0
    var pending: [Int32] = []
    var warmChanged = false
    // Processor sharing.
    var virtualTime = 0.0
    var lastUpdate = 0.0
    var running = MinHeap()
    var generation: UInt32 = 0

    init(id: String, route: RoutingID, cores: Double, memoryMB: Int) {
        self.id = id
        self.route = route
        self.cores = cores
        self.memoryMB = memoryMB
    }

    /// Speed of each running activation: min(1, cores / running).
    var rate: Double { running.count == 0 ? 1 : min(1, cores / Double(running.count)) }

    mutating func advance(to now: Double) {
        if running.count > 0 { virtualTime += (now - lastUpdate) * rate }
        lastUpdate = now
    }

    /// The most recently used idle container of `action`, now busy.
    mutating func takeIdle(_ action: Int32, now: Double) -> Int? {
        guard var idle = idleByAction[action], let container = idle.popLast() else { return nil }
        idleByAction[action] = idle.isEmpty ? nil : idle
        containers[container].busy = true
        containers[container].lastUsed = now
        warmChanged = true
        return container
    }

    mutating func create(_ action: Int32, memoryMB: Int, now: Double) -> Int {
        let container = Container(action: action, busy: true, lastUsed: now, alive: true, memoryMB: memoryMB)
        let index: Int
        if let free = freeContainerSlots.popLast() {
            containers[free] = container
            index = free
        } else {
            containers.append(container)
            index = containers.count - 1
        }
        usedMemoryMB += memoryMB
        totalByAction[action, default: 0] += 1
        warmChanged = true
        return index
    }

    mutating func release(_ container: Int, now: Double) {
        containers[container].busy = false
        containers[container].lastUsed = now
        idleByAction[containers[container].action, default: []].append(container)
        warmChanged = true
    }

    mutating func evict(_ container: Int) {
        let action = containers[container].action
        if var idle = idleByAction[action], let at = idle.firstIndex(of: container) {
            idle.remove(at: at)
            idleByAction[action] = idle.isEmpty ? nil : idle
        }
        let total = totalByAction[action, default: 1] - 1
        totalByAction[action] = total > 0 ? total : nil
        usedMemoryMB -= containers[container].memoryMB
        containers[container].alive = false
        freeContainerSlots.append(container)
        warmChanged = true
    }

    /// Evicts the idle container used least recently (lowest index on a tie). False: none is idle.
    mutating func evictLeastRecentlyUsed() -> Bool {
        var best = -1
        for (index, container) in containers.enumerated() where container.alive && !container.busy {
            if best < 0 || container.lastUsed < containers[best].lastUsed { best = index }
        }
        guard best >= 0 else { return false }
        evict(best)
        return true
    }

    /// Evicts idle containers last used at or before `cutoff`; returns how many.
    mutating func evictIdle(olderThan cutoff: Double) -> Int {
        var count = 0
        for index in containers.indices where containers[index].alive && !containers[index].busy && containers[index].lastUsed <= cutoff {
            evict(index)
            count += 1
        }
        return count
    }
}
