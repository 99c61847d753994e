import Foundation
import Logging
import SluiceCore
import SluiceMonitor
import SluicePluginAPI
import SluiceProtocol
import SluiceTrace
import SluiceTransport
import ZeroMQ

/// The I/O shell: owns both ROUTER sockets, drains them in batches, runs the core, executes
/// its actions and fires its timers. Everything here runs on the one loop thread that made it
/// (see docs/ARCHITECTURE.md, "Threads: who owns what"); other threads talk to it only through `BrokerControl`.
final class BrokerLoop {
    let configuration: BrokerNodeConfiguration
    let control: BrokerControl
    let logger: Logger
    let controllerSocket: ZMQSocket
    let invokerSocket: ZMQSocket
    var core: BrokerCore<SharedFrame>
    var actions: [BrokerAction<SharedFrame>] = []
    var followUps: [BrokerEvent<SharedFrame>] = []
    /// Authenticates CURVE clients (ZAP, RFC 27) when security is on.
    var zap: ZAPHandler?
    /// Reused for every received message (see `drain`).
    var receiveFrames: [ZMQMessage] = []
    /// Pointers to those frames' bytes while one is decoded; reused likewise.
    var decodeScratch: [RawFrame] = []
    let clock = ContinuousClock()
    let origin: ContinuousClock.Instant

    /// Draining ends when nothing is in flight (but not before `notBefore`) or at `until`.
    enum Phase { case running, draining(until: Timestamp, notBefore: Timestamp) }
    var phase = Phase.running

    let strategies: StrategyRegistry
    /// Where waiting work is journaled; nil for the in-memory default (nothing written).
    let journal: OverflowJournal?
    /// DISPATCHes and ANSWERs of journaled activations whose consume mark is not yet synced;
    /// they leave at the next `commitJournal()` (or are dropped if the store broke).
    var held: [HeldSend] = []
    /// Keeps a peer's bad input from flooding the log (issue 13, item 17).
    var badInputLog = BadInputLogLimiter(start: .zero)
    /// Turn durations and tick lateness (issue 13, item 19).
    var health = LoopHealth(start: .zero)
    /// Messages taken in the current turn.
    var turnMessages = 0
    /// Where the monitoring endpoint reads from; nil when it is off (then nothing below is kept).
    let feed: MonitorFeed?
    /// Turn durations and tick lateness since the last tick, nanoseconds, for the feed.
    var turnSamples: [UInt64] = []
    var latenessSamples: [UInt64] = []
    /// When the feed's tables were last rebuilt (they are every `monitorRefresh`).
    var lastMonitorSnapshot: Timestamp?
    let monitorRefresh: Duration = .milliseconds(250)

    /// The placement trace being recorded (docs/TRACES.md).
    var trace: TraceWriter?
    var traceOrigin = Timestamp.zero
    var traceStopLogged = false
    var traceSettings: TraceSettings?

    struct HeldSend {
        var endpoint: Endpoint
        var route: RoutingID
        var message: Message
        var opaque: ZMQMessage?
    }

    init(context: ZMQContext, configuration: BrokerNodeConfiguration, strategies: StrategyRegistry,
         overflowStore: (any OverflowStore)?, control: BrokerControl, feed: MonitorFeed? = nil, logger: Logger) throws {
        self.configuration = configuration
        self.feed = feed
        self.journal = overflowStore.map(OverflowJournal.init(store:))
        self.strategies = strategies
        self.control = control
        self.logger = logger
        let strategy = try strategies.make(configuration.strategy, parameters: configuration.strategyParameters)
        origin = clock.now
        var coreConfiguration = configuration.core
        coreConfiguration.persistOverflow = overflowStore != nil
        coreConfiguration.recordsLatencies = feed != nil
        // This loop sends .endOfBatch after every socket drain (see `drain`).
        coreConfiguration.batchesPlacement = true
        core = BrokerCore(configuration: coreConfiguration, strategy: strategy, start: .zero)
        // The ZAP handler must be bound before the first client handshakes.
        if case .curve(let curve) = configuration.security {
            let handler = try ZMQSocket(context, type: .router)
            try handler.setLinger(milliseconds: 0)
            try handler.bind("inproc://zeromq.zap.01")
            zap = ZAPHandler(socket: handler, settings: curve)
        }
        controllerSocket = try Self.makeRouter(context, configuration, domain: "controller")
        invokerSocket = try Self.makeRouter(context, configuration, domain: "invoker")
        for (socket, key, endpoint) in [(controllerSocket, "controller-endpoint", configuration.controllerEndpoint),
                                        (invokerSocket, "invoker-endpoint", configuration.invokerEndpoint)] {
            do {
                try socket.bind(endpoint)
            } catch {
                throw BindFailure(key: key, endpoint: endpoint, error: error)
            }
        }
        actions.reserveCapacity(1024)
        if configuration.trace.path != nil {
            do {
                try startTrace(configuration.trace)
            } catch {
                throw BrokerConfiguration.Invalid(key: "trace.path", problem: error.description)
            }
        }
    }

    /// Opens a new trace and starts recording into it.
    func startTrace(_ settings: TraceSettings) throws(TraceError) {
        guard let path = settings.path else { return }
        let writer = try TraceWriter(path: path, startMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000),
                                     segmentBytes: settings.segmentBytes, budgetBytes: settings.budgetBytes)
        trace = writer
        traceSettings = settings
        traceOrigin = now
        traceStopLogged = false
        core.recordsTrace = true
        logger.notice("recording a placement trace", metadata: [
            "path": "\(path)", "segment_bytes": "\(settings.segmentBytes)", "budget_bytes": "\(settings.budgetBytes)",
        ])
    }

    /// A reload asked for another trace, or none: the current one is closed first.
    func changeTrace(_ request: TraceRequest) {
        if let settings = request.settings, settings == traceSettings, trace != nil {
            request.reply(nil)
            return
        }
        closeTrace()
        guard let settings = request.settings else {
            request.reply(nil)
            return
        }
        do {
            try startTrace(settings)
            request.reply(nil)
        } catch {
            logger.error("placement trace not started", metadata: ["path": "\(settings.path ?? "")", "error": "\(error)"])
            request.reply(error.description)
        }
        publishMonitorSnapshot(state: nil)
    }

    /// Hands the trace writer the core's trace events since the last call (activations and the
    /// cluster's shape, in order); the writer hashes and writes on its own thread. Once per
    /// tick, so the loop's per-message cost is the core's append of one small event.
    func flushTrace() {
        guard let trace else { return }
        func microseconds(_ at: Timestamp) -> UInt64 { at.nanoseconds > traceOrigin.nanoseconds ? (at.nanoseconds - traceOrigin.nanoseconds) / 1000 : 0 }
        let inputs = core.takeTraceEvents().map { event -> TraceInput in
            switch event {
            case .arrival(let sequence, let at, let action, let namespace, let memory):
                .arrival(sequence: sequence, microseconds: microseconds(at), action: action, namespace: namespace, memoryMB: memory)
            case .answered(let sequence, let at, let kind, let ran, let warm, let position):
                .record(.answered(sequence: sequence, microseconds: microseconds(at), kind: kind.rawValue, ran: ran != nil,
                                  ranMicroseconds: (ran ?? 0) / 1000, warm: warm, invoker: position.map { UInt32($0) }))
            case .invoker(let position, let at, let memory, let slots):
                .record(.invoker(position: UInt32(position), microseconds: microseconds(at), memoryMB: memory, slots: slots))
            case .invokerLeft(let position, let at):
                .record(.invokerLeft(position: UInt32(position), microseconds: microseconds(at)))
            }
        }
        trace.submit(inputs)
        if !traceStopLogged, let reason = trace.status.stopped {
            traceStopLogged = true
            core.recordsTrace = false
            logger.warning("placement trace stopped; the broker goes on without it", metadata: [
                "path": "\(trace.path)", "reason": "\(reason)", "records": "\(trace.status.records)",
            ])
        }
    }

    /// Writes the rest of the trace and closes it (at shutdown).
    func closeTrace() {
        guard let trace else { return }
        flushTrace()
        core.recordsTrace = false
        trace.close()
        let status = trace.status
        logger.notice("placement trace closed", metadata: [
            "path": "\(trace.path)", "records": "\(status.records)", "bytes": "\(status.bytes)", "segments": "\(status.segments)",
            "dropped": "\(status.dropped)", "stopped": "\(status.stopped ?? "no")",
        ])
        self.trace = nil
        traceSettings = nil
    }

    static func makeRouter(_ context: ZMQContext, _ configuration: BrokerNodeConfiguration, domain: String) throws(ZMQError) -> ZMQSocket {
        let socket = try ZMQSocket(context, type: .router)
        // Never drop silently: unknown or full peers fail the send and the core decides.
        try socket.setRouterMandatory(true)
        try socket.setMaxMessageSize(Int64(configuration.core.maxMessageBytes))
        try socket.setSendHighWaterMark(configuration.sendHighWaterMark)
        try socket.setReceiveHighWaterMark(configuration.receiveHighWaterMark)
        try socket.setBacklog(1024)
        switch configuration.security {
        case .none:
            break
        case .curve(let curve):
            // CURVE on the endpoint; the ZAP domain tells the handler which role's keys apply.
            try socket.setCurveServer(secretKey: curve.serverSecretKey)
            try socket.setZAPDomain(domain)
        }
        return socket
    }

    var endpoints: BoundEndpoints {
        get throws(ZMQError) {
            BoundEndpoints(controller: try controllerSocket.lastEndpoint, invoker: try invokerSocket.lastEndpoint)
        }
    }

    var now: Timestamp { Timestamp(nanoseconds: origin.duration(to: clock.now).nanoseconds) }

    /// Hands the work a previous run left in the overflow store back to the core.
    func recoverOverflow() throws {
        guard let journal else { return }
        let found = try journal.recover()
        let nowMilliseconds = UInt64(Date().timeIntervalSince1970 * 1000)
        let recovered = found.records.map { record in
            let waited = nowMilliseconds > record.enqueuedAtMilliseconds ? nowMilliseconds - record.enqueuedAtMilliseconds : 0
            return (header: record.header, payload: SharedFrame(ZMQMessage(bytes: record.payload)), waited: Duration.milliseconds(Int64(waited)))
        }
        let report = journal.store.recoveryReport
        logger.notice("overflow store opened", metadata: [
            "store": "\(journal.store.name)", "recovered": "\(recovered.count + found.uncertain.count)",
            "corrupt_records_skipped": "\(report.corruptRecords)", "uncertain_answered_system_error": "\(found.uncertain.count)",
            "duplicates_retired": "\(found.duplicates)", "torn_tail_bytes_cut": "\(report.truncatedBytes)", "segments": "\(report.segments)",
        ])
        if !found.uncertain.isEmpty {
            logger.error("overflow store damaged: activations written before the damage may already have run; they are answered systemError and not run",
                         metadata: ["count": "\(found.uncertain.count)"])
            process(.recoveredUncertain(found.uncertain, reason: "overflow store damaged: cannot tell whether it already ran, so it is not run"), at: now)
        }
        if !recovered.isEmpty { process(.recovered(recovered), at: now) }
        commitJournal()
    }

    /// Wall-clock milliseconds of a core timestamp (for records that outlive this process).
    func wallMilliseconds(_ time: Timestamp) -> UInt64 {
        let age = now.since(time)
        let wall = Date().timeIntervalSince1970 * 1000 - Double(age.milliseconds)
        return wall > 0 ? UInt64(wall) : 0
    }

    /// One sync for the turn's appends and consume marks (group commit), then the held
    /// DISPATCHes and ANSWERs leave; if the store broke, they are dropped and the core forgets
    /// the withheld activations (docs/ARCHITECTURE.md, "Overflow", rules 1 to 3).
    func commitJournal() {
        guard let journal else { return }
        var rounds = 0
        repeat {
            rounds += 1
            let outcome = journal.commit()
            let leaving = held
            held.removeAll(keepingCapacity: true)
            if outcome == .durable {
                for message in leaving { send(message.message, opaque: message.opaque, to: message.route, on: message.endpoint) }
            }
            let withheld = journal.takeWithheld()
            if !withheld.isEmpty {
                logger.error("overflow store broken: it is no longer used; further overflow is answered overloaded, and the activations it holds are left for the next run", metadata: [
                    "store": "\(journal.store.name)", "error": "\(journal.broken.map { "\($0)" } ?? "?")", "withheld": "\(withheld.count)",
                ])
                core.handle(.overflowWithheld(activationIDs: withheld, reason: "overflow store broken"), now: now, into: &actions)
                execute()
            }
            // Sends that just failed come back as events; they may hold more messages.
            runFollowUps(at: now)
        } while !held.isEmpty && rounds < 16
    }

    /// Runs until shutdown completes.
    func run() throws {
        // However the loop ends, nobody waits forever for a strategy change.
        defer {
            for request in control.closeStrategyRequests() {
                request.reply(ParameterError(key: "routing.strategy", problem: "the broker stopped before the change took effect"))
            }
            for request in control.closeTraceRequests() {
                request.reply("the broker stopped before the change took effect")
            }
        }
        try recoverOverflow()
        feed?.beat()
        publishMonitorSnapshot(state: .running)
        var poller = ZMQPoller()
        // Both sockets are drained on every wake-up, so only the wake fd's index matters.
        _ = poller.add(controllerSocket)
        _ = poller.add(invokerSocket)
        let wakeIndex = poller.add(fileDescriptor: control.wake.fileDescriptor)
        let zapIndex = zap.map { poller.add($0.socket) }
        let tickNanoseconds = configuration.tickInterval.nanoseconds
        var nextTick = now.nanoseconds + tickNanoseconds
        var nextStats = configuration.statsInterval > .zero ? now + configuration.statsInterval : nil

        while true {
            let current = now.nanoseconds
            let waitMilliseconds = nextTick > current ? Int((nextTick - current + 999_999) / 1_000_000) : 0
            _ = try poller.poll(timeoutMilliseconds: waitMilliseconds)
            let turnStart = now
            turnMessages = 0

            if poller.isReadable(wakeIndex) {
                control.wake.drain()
            }
            if let zapIndex, poller.isReadable(zapIndex), let zap {
                for decision in try zap.answerRequests() {
                    process(.authentication(endpoint: decision.endpoint, accepted: decision.accepted), at: now)
                    if !decision.accepted {
                        logger.warning("client key refused", metadata: [
                            "endpoint": "\(decision.endpoint?.rawValue ?? "?")", "key": "\(decision.key)", "reason": "\(decision.reason)",
                        ])
                    }
                }
            }
            if control.shutdownRequested, case .running = phase {
                startDraining()
            }
            for request in control.takeStrategyRequests() {
                swapStrategy(request)
            }
            for request in control.takeTraceRequests() {
                changeTrace(request)
            }
            if let news = control.takeMembers() {
                process(.membersChanged(news.members), at: now)
                process(.otherMembersSlots(news.otherSlots), at: now)
            }
            // Drain both sockets in turns so neither side starves the other.
            var more = true
            while more {
                more = false
                if try drain(controllerSocket, endpoint: .controller, channel: .controllerToBroker) { more = true }
                if try drain(invokerSocket, endpoint: .invoker, channel: .invokerToBroker) { more = true }
                // A flood can refill the sockets faster than they drain. Timers (heartbeats,
                // deadlines, liveness) must still run, so a due tick ends the drain; the next
                // poll returns at once and draining goes on.
                if more && now.nanoseconds >= nextTick { break }
            }

            let time = now
            if time.nanoseconds >= nextTick {
                health.tick(late: .nanoseconds(Int64(clamping: time.nanoseconds - nextTick)))
                if feed != nil { latenessSamples.append(time.nanoseconds - nextTick) }
                process(.tick, at: time)
                flushTrace()
                logBadInputSummaries(badInputLog.endWindow(now: time))
                nextTick = time.nanoseconds + tickNanoseconds
                control.publish(core.counters, inFlight: core.inFlightCount, waiting: core.waitingCount, invokers: core.invokerCount,
                                slots: configuration.cluster == nil ? nil : core.snapshotSlots)
                feedMonitor(at: time)
            }
            if let due = nextStats, time >= due {
                logStats()
                nextStats = time + configuration.statsInterval
            }
            let took = now.since(turnStart)
            health.turn(took: took, messages: turnMessages)
            if feed != nil && turnMessages > 0 { turnSamples.append(UInt64(took.nanoseconds)) }
            if let report = health.endWindow(now: time) {
                logger.warning("broker loop was slow", metadata: [
                    "longest_turn_ms": "\(report.longestTurn.milliseconds)", "messages_in_it": "\(report.longestTurnMessages)",
                    "slow_turns": "\(report.slowTurns)", "latest_tick_ms": "\(report.latestTick.milliseconds)",
                    "late_ticks": "\(report.lateTicks)", "threshold_ms": "\(health.slow.milliseconds)", "window": "\(health.window)",
                ])
            }
            if case .draining(let until, let notBefore) = phase, (core.inFlightCount == 0 && time >= notBefore) || time >= until {
                process(.finishShutdown, at: time)
                control.publish(core.counters, inFlight: core.inFlightCount, waiting: core.waitingCount, invokers: core.invokerCount)
                publishMonitorSnapshot(state: .stopped)
                break
            }
        }
        logBadInputSummaries(badInputLog.endWindow(now: now, force: true))
        closeTrace()
        let parked = core.parkedAnswerCount
        if parked > 0 {
            logger.warning("answers kept for absent controllers are lost at shutdown", metadata: ["count": "\(parked)"])
        }
        try? controllerSocket.setLinger(milliseconds: Int32(clamping: configuration.closeLinger.milliseconds))
        try? invokerSocket.setLinger(milliseconds: Int32(clamping: configuration.closeLinger.milliseconds))
    }

    /// Replaces the strategy between two events: nothing in flight or waiting is touched.
    func swapStrategy(_ request: StrategyRequest) {
        let previous = core.strategyName
        do {
            let strategy = try strategies.make(request.name, parameters: request.parameters)
            core.replaceStrategy(strategy)
            control.publishStrategy(request.name)
            logger.notice("routing strategy changed", metadata: [
                "from": "\(previous)", "to": "\(request.name)",
                "parameters": "\(request.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
                "in_flight": "\(core.inFlightCount)", "waiting": "\(core.waitingCount)",
            ])
            request.reply(nil)
            // A strategy that places differently may place waiting work now.
            process(.tick, at: now)
        } catch {
            logger.error("routing strategy change refused; keeping the current one", metadata: ["strategy": "\(previous)", "error": "\(error)"])
            request.reply(error)
        }
    }

    func startDraining() {
        let until = now + configuration.shutdownGrace
        // In a cluster, controllers hear that this broker is leaving from the MEMBERS sent
        // now; what they sent before that still arrives and is answered here, so the broker
        // stays one heartbeat interval at least (bounded by the grace).
        let quiet = configuration.cluster == nil ? Duration.zero : min(configuration.core.heartbeatInterval, configuration.shutdownGrace)
        phase = .draining(until: until, notBefore: now + quiet)
        logger.info("shutting down: refusing new activations, answering waiting work, grace for in-flight work",
                    metadata: ["in_flight": "\(core.inFlightCount)", "waiting": "\(core.waitingCount)",
                               "grace": "\(configuration.shutdownGrace)"])
        process(.beginShutdown, at: now)
        publishMonitorSnapshot(state: .draining)
    }

    /// Every tick: the heartbeat and the samples; every `monitorRefresh`, the tables.
    func feedMonitor(at time: Timestamp) {
        guard let feed else { return }
        feed.beat()
        feed.record(latencies: core.takeLatencySamples(), turns: turnSamples, tickLateness: latenessSamples)
        turnSamples.removeAll(keepingCapacity: true)
        latenessSamples.removeAll(keepingCapacity: true)
        if let last = lastMonitorSnapshot, time.since(last) < monitorRefresh { return }
        publishMonitorSnapshot(state: nil)
    }

    /// Rebuilds what the monitoring endpoint shows; `state` changes the broker's state too.
    func publishMonitorSnapshot(state: MonitorSnapshot.State?) {
        guard let feed else { return }
        lastMonitorSnapshot = now
        var snapshot = MonitorSnapshot()
        snapshot.state = state ?? {
            if core.shuttingDown { return .draining }
            return .running
        }()
        snapshot.strategy = core.strategyName
        snapshot.counters = core.counters
        snapshot.broker = core.snapshot()
        if let journal {
            let usage = journal.store.usage
            snapshot.overflow = OverflowStatus(store: journal.store.name, records: usage.records, bytes: usage.bytes,
                                               budgetBytes: usage.budgetBytes, broken: journal.broken.map { "\($0)" })
        } else {
            snapshot.overflow = nil
        }
        snapshot.trace = trace.map { writer in
            let status = writer.status
            return TraceStatus(path: writer.path, records: status.records, bytes: status.bytes, segments: status.segments,
                               dropped: status.dropped, stopped: status.stopped)
        }
        snapshot.slowTurns = health.totalSlowTurns
        snapshot.lateTicks = health.totalLateTicks
        feed.publish(snapshot)
    }

    /// Actions a batch collects before they are executed (see `drain`): under full load the
    /// first send of a burst waits for about 64 messages' work (a few hundred microseconds);
    /// below it a burst ends with the batch, so nothing waits for messages that are not there.
    /// Measured (docs/PERFORMANCE.md): 12 and 32 cost more CPU per round trip than 64; a whole
    /// batch of up to 256 lost throughput.
    static let sendBurst = 64

    /// Takes up to `batchSize` messages from `socket`. Returns true if it may have more.
    func drain(_ socket: ZMQSocket, endpoint: Endpoint, channel: Channel) throws -> Bool {
        var taken = 0
        let time = now
        // Group commit: one journal sync for the whole batch (docs/ARCHITECTURE.md, "Overflow").
        defer { commitJournal() }
        // Slots the batch's completions freed are offered to waiting work once, here (runs
        // before the commit above: its DISPATCHes of journaled work are held for that sync),
        // and with them whatever the batch decided that has not left yet.
        defer { if taken > 0 { process(.endOfBatch, at: time, commit: false) } }
        // The reused frames and scratch are taken out of the loop object for the batch: each
        // mutation of a class property is a dynamic exclusivity check, several per message.
        var frames: [ZMQMessage] = []
        var scratch: [RawFrame] = []
        swap(&frames, &receiveFrames)
        swap(&scratch, &decodeScratch)
        defer {
            swap(&frames, &receiveFrames)
            swap(&scratch, &decodeScratch)
            turnMessages += taken
        }
        while taken < configuration.batchSize {
            // Frames are received into reused messages; only an opaque frame the core keeps is
            // replaced, so a message costs one new ZMQMessage at most.
            guard let count = try socket.receiveMultipart(into: &frames, flags: .dontWait) else { return false }
            taken += 1
            // A ROUTER always delivers the routing id first; anything after it is the peer's.
            let route = frames[0].withUnsafeBytes { RoutingID($0) }
            var (decoded, opaque) = Wire.decode(frames[1..<count], channel: channel, scratch: &scratch)
            if let zap, case .success(let message) = decoded, let refusal = zap.refusal(of: message, on: endpoint, frame: frames[1]) {
                decoded = .failure(refusal)
            }
            if opaque != nil { frames[1 + Message.opaqueFrameIndex] = ZMQMessage() }
            // Straight to the core, without a `BrokerEvent` per message; committed per batch.
            core.handleReceived(endpoint, route, decoded, opaque: opaque.map(SharedFrame.init), now: time, into: &actions)
            // What the core decided leaves in bursts (here, and at the end of the batch through
            // the `.endOfBatch` above): back-to-back sends reach libzmq's I/O thread together,
            // so it writes several messages per system call instead of one or two.
            if actions.count >= Self.sendBurst { afterCore(at: time, commit: false) }
        }
        return true
    }

    /// Runs one event through the core and executes the resulting actions, including the
    /// follow-up events that failed sends produce. With `commit` (all but a socket drain, which
    /// commits once per batch) the journal is committed after it.
    func process(_ event: BrokerEvent<SharedFrame>, at time: Timestamp, commit: Bool = true) {
        core.handle(event, now: time, into: &actions)
        afterCore(at: time, commit: commit)
    }

    /// Executes what the core just decided, then the follow-ups of failed sends, then (with
    /// `commit`) commits the journal.
    func afterCore(at time: Timestamp, commit: Bool) {
        execute()
        runFollowUps(at: time)
        if commit { commitJournal() }
    }

    func runFollowUps(at time: Timestamp) {
        var rounds = 0
        while !followUps.isEmpty && rounds < 64 {
            rounds += 1
            let pending = followUps
            followUps.removeAll(keepingCapacity: true)
            for followUp in pending {
                core.handle(followUp, now: time, into: &actions)
                execute()
            }
        }
    }

    func execute() {
        // Each action is moved out of the array (a swap with an action that holds nothing), not
        // copied: iterating the array copied each action (a retain of each of its strings and
        // frames) and emptying it released them all again.
        var pending: [BrokerAction<SharedFrame>] = []
        swap(&pending, &actions)
        defer {
            pending.removeAll(keepingCapacity: true)
            if actions.isEmpty { swap(&pending, &actions) }
        }
        for index in pending.indices {
            var action = BrokerAction<SharedFrame>.overflowConsume(activationID: "")
            swap(&action, &pending[index])
            switch consume action {
            case .send(let endpoint, let route, let message, let frame):
                let opaque = frame.map(Self.message)
                if let journal, let id = message.journaledActivationID, journal.mustHold(id) {
                    // Its consume mark is not synced yet: it leaves after the turn's commit.
                    held.append(HeldSend(endpoint: endpoint, route: route, message: message, opaque: opaque))
                    break
                }
                if case .publication = message {
                    // One frame fans out to many subscribers: each send takes a shared copy.
                    send(message, opaque: opaque?.sharedCopy(), to: route, on: endpoint)
                } else {
                    send(message, opaque: opaque, to: route, on: endpoint)
                }
            case .notice(let notice):
                log(notice)
            case .overflowAppend(let header, let payload, let enqueuedAt):
                guard let journal else { break }
                if let refusal = journal.append(header, payload: Self.message(payload).bytes, enqueuedAtMilliseconds: wallMilliseconds(enqueuedAt)) {
                    followUps.append(.overflowRejected(activationID: header.activationID, reason: refusal))
                }
            case .overflowConsume(let id):
                journal?.consume(id)
            }
        }
    }

    /// The ZeroMQ message a core payload carries: every payload the shell hands the core is one.
    static func message(_ frame: SharedFrame) -> ZMQMessage {
        unsafeDowncast(frame.object as AnyObject, to: ZMQMessage.self)
    }

    func send(_ message: Message, opaque: ZMQMessage?, to route: RoutingID, on endpoint: Endpoint) {
        let socket = endpoint == .controller ? controllerSocket : invokerSocket
        do {
            try route.withUnsafeBytes { (bytes) throws(ZMQError) in try socket.send(message, opaque: opaque, to: bytes, flags: .dontWait) }
        } catch {
            // EHOSTUNREACH: the connection is gone. EAGAIN: the peer's pipe is full.
            switch message {
            case .dispatch(let header):
                followUps.append(.dispatchFailed(route, header, payload: SharedFrame(opaque ?? ZMQMessage()), unreachable: !error.wouldBlock))
            case .answer(let answer):
                followUps.append(.answerUndeliverable(route, answer, result: opaque.map(SharedFrame.init)))
            case .publication:
                followUps.append(.publicationUndelivered)
            default:
                // Counted (§7); logged only at debug level, since a peer that stops reading
                // would otherwise fill the log with one line per refused message.
                followUps.append(.replyUndelivered)
                logger.debug("control message not delivered", metadata: [
                    "endpoint": "\(endpoint.rawValue)", "route": "\(route)", "command": "\(message.command)", "error": "\(error)",
                ])
            }
        }
    }

    func log(_ notice: BrokerNotice) {
        switch notice {
        case .controllerRegistered(let id, let reconnected, let parked):
            logger.info("controller registered", metadata: ["controller": "\(id)", "reconnected": "\(reconnected)", "parked_answers": "\(parked)"])
        case .controllerLost(let id):
            logger.info("controller disconnected; its answers are kept until it returns", metadata: ["controller": "\(id)"])
        case .invokerRegistered(let id, let memory, let slots, let replaced):
            if configuration.cluster != nil { control.invokerEvent(.joined(id)) }
            logger.info("invoker registered", metadata: ["invoker": "\(id)", "memory_mb": "\(memory)", "slots": "\(slots)", "replaced_connection": "\(replaced)"])
        case .invokerLost(let id, let reason, let answered):
            if configuration.cluster != nil { control.invokerEvent(.left(id)) }
            // An invoker that says goodbye with nothing running left on purpose (a drain, or a
            // move to another broker of a cluster): worth a line, not a warning.
            logger.log(level: answered == 0 && reason == "said goodbye" ? .info : .warning, "invoker lost",
                       metadata: ["invoker": "\(id)", "reason": "\(reason)", "in_flight_answered_invoker_lost": "\(answered)"])
        case .invokerHealthChanged(let id, let health):
            logger.warning("invoker health changed", metadata: ["invoker": "\(id)", "health": "\(health)"])
        case .strategyContractBroken(let strategy, let invoker):
            logger.error("routing strategy chose an ineligible invoker", metadata: ["strategy": "\(strategy)", "invoker": "\(invoker)"])
        case .parkedAnswersDropped(let controller, let count, let reason):
            logger.warning("answers dropped for an absent controller", metadata: ["controller": "\(controller)", "count": "\(count)", "reason": "\(reason)"])
        case .protocolError(let endpoint, let route, let code, let reason):
            guard badInputLog.admit(.init(endpoint: endpoint, route: route), code: code) else { return }
            logger.notice("bad input from a peer", metadata: ["endpoint": "\(endpoint.rawValue)", "route": "\(route)", "code": "\(code)", "reason": "\(reason)"])
        }
    }

    func logBadInputSummaries(_ summaries: [BadInputLogLimiter.Summary]) {
        for summary in summaries {
            logger.notice("bad input from a peer: more messages not logged (counted in protocol_errors)", metadata: [
                "endpoint": "\(summary.peer.endpoint.rawValue)", "route": "\(summary.peer.route)", "suppressed": "\(summary.suppressed)",
                "codes": "\(summary.codes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
                "window": "\(badInputLog.window)",
            ])
        }
    }

    func logStats() {
        var metadata: Logger.Metadata = [
            "strategy": "\(core.strategyName)", "in_flight": "\(core.inFlightCount)", "waiting": "\(core.waitingCount)", "invokers": "\(core.invokerCount)",
            "controllers": "\(core.connectedControllerCount)",
        ]
        for (name, value) in core.counters.fields where value > 0 { metadata[name] = "\(value)" }
        logger.info("stats", metadata: metadata)
    }
}
