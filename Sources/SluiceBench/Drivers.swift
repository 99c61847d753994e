import Foundation
import Histogram
import SluiceProtocol
import SluiceTransport
import Synchronization
import ZeroMQ

/// Where the simulated peers connect.
enum Topology {
    /// Through a broker: controllers to its controller endpoint, invokers to its invoker endpoint.
    case broker(controllerEndpoint: String, invokerEndpoint: String)
    /// No broker: each invoker binds a ROUTER and every controller DEALER connects to all of
    /// them (ZeroMQ spreads the sends round robin). The same frames travel, one hop each way.
    case direct
}

/// State the driver threads share with the orchestrating thread.
final class SharedProgress: Sendable {
    /// Invokers that have a session (broker) or a bound socket (direct).
    let invokersReady = Atomic<Int>(0)
    let controllersReady = Atomic<Int>(0)
    /// Activations the invokers hold (hold mode).
    let held = Atomic<Int>(0)
    /// Set when the invokers may answer what they hold.
    let release = Atomic<Bool>(false)
    /// Hold mode: the warm-up pass is answered (set by the controllers)...
    let warmedUp = Atomic<Bool>(false)
    /// ...and, once the idle memory is read, the invokers hold what arrives (set by the run).
    let holding = Atomic<Bool>(false)
    /// Set to stop every thread.
    let stop = Atomic<Bool>(false)
    /// Answers received by the controllers so far.
    let answered = Atomic<Int>(0)
    let directEndpoints = Mutex<[String]>([])
    let failure = Mutex<String?>(nil)

    func fail(_ message: String) {
        failure.withLock { if $0 == nil { $0 = message } }
        stop.store(true, ordering: .releasing)
    }
}

/// Simulated invokers on one thread: each DISPATCH is answered at once (or held) with a
/// combined COMPLETION carrying `answerBytes` of result.
final class InvokerDriver: @unchecked Sendable {
    let configuration: BenchConfiguration
    let topology: Topology
    let context: ZMQContext
    let ids: [String]
    let shared: SharedProgress
    private(set) var dispatches = 0

    init(configuration: BenchConfiguration, topology: Topology, context: ZMQContext, ids: [String], shared: SharedProgress) {
        self.configuration = configuration
        self.topology = topology
        self.context = context
        self.ids = ids
        self.shared = shared
    }

    func run() {
        do {
            try loop()
        } catch {
            shared.fail("invoker driver: \(error)")
        }
    }

    private func loop() throws {
        let result = [UInt8](repeating: 0x72, count: configuration.answerBytes)
        var sockets: [ZMQSocket] = []
        for id in ids {
            switch topology {
            case .broker(_, let endpoint):
                let socket = try ZMQSocket(context, type: .dealer)
                try socket.setLinger(milliseconds: 0)
                try socket.setSendHighWaterMark(0)
                try socket.setReceiveHighWaterMark(0)
                try socket.connect(endpoint)
                try socket.send(.invokerHello(InvokerHello(invokerID: id, memoryMB: UInt32(configuration.slots) * 256,
                                                           slots: UInt32(configuration.slots))))
                sockets.append(socket)
            case .direct:
                let socket = try ZMQSocket(context, type: .router)
                try socket.setLinger(milliseconds: 0)
                try socket.setSendHighWaterMark(0)
                try socket.setReceiveHighWaterMark(0)
                try socket.bind("tcp://127.0.0.1:*")
                let endpoint = try socket.lastEndpoint
                shared.directEndpoints.withLock { $0.append(endpoint) }
                shared.invokersReady.add(1, ordering: .relaxed)
                sockets.append(socket)
            }
        }
        var held: [(socket: Int, route: ZMQMessage?, id: String)] = []
        let lastHeartbeat = monotonicNanoseconds()
        let heartbeatNanoseconds: UInt64 = 500_000_000

        func answer(_ index: Int, route: ZMQMessage?, id: String) throws(ZMQError) {
            let socket = sockets[index]
            if let route {
                // The same send path as the broker's ROUTER, so the baseline pays what it pays.
                try socket.send(.answer(AnswerHeader(activationID: id, kind: .success, invokerID: ids[index])),
                                opaque: ZMQMessage(bytes: result), to: route.bytes)
            } else {
                let header = CompletionHeader(activationID: id, includesResult: true, systemError: false, outcome: .success)
                try socket.send(.completion(header), opaque: ZMQMessage(bytes: result))
            }
        }

        // epoll over every socket's ZMQ_FD: a wake-up costs the sockets that have something,
        // not all of them (zmq_poll over 1,000 sockets was this thread's whole budget).
        let epoll = try ZMQEpoll()
        for (index, socket) in sockets.enumerated() { try epoll.add(socket, token: index) }
        // Sockets to service now. Every socket starts here: its descriptor may have signalled
        // before it was watched. A socket returns here after we send on it (`answer`), since
        // a send can consume the signal of a message that arrived meanwhile.
        var ready = Array(sockets.indices)
        var queued = [Bool](repeating: true, count: sockets.count)
        var frames: [ZMQMessage] = []

        func markReady(_ index: Int) {
            guard !queued[index] else { return }
            queued[index] = true
            ready.append(index)
        }

        func service(_ index: Int) throws {
            let socket = sockets[index]
            while let count = try socket.receiveMultipart(into: &frames, flags: .dontWait) {
                let route: ZMQMessage?
                let body: ArraySlice<ZMQMessage>
                switch topology {
                case .direct:
                    route = frames[0]
                    body = frames[1..<count]
                case .broker:
                    route = nil
                    body = frames[0..<count]
                }
                let channel: Channel = route == nil ? .brokerToInvoker : .controllerToBroker
                switch Wire.decode(body, channel: channel).0 {
                case .success(.dispatch(let header)), .success(.activate(let header)):
                    dispatches += 1
                    // The route frame is reused by the next receive: keep a copy of it.
                    let kept = route.map { ZMQMessage(bytes: $0.bytes) }
                    if configuration.holdCount > 0 && shared.holding.load(ordering: .acquiring) {
                        held.append((index, kept, header.activationID))
                        shared.held.add(1, ordering: .relaxed)
                    } else {
                        try answer(index, route: kept, id: header.activationID)
                    }
                case .success(.welcome):
                    shared.invokersReady.add(1, ordering: .relaxed)
                case .success(.heartbeat):
                    break
                case .success(.error(let report)):
                    shared.fail("broker sent ERROR \(report.code.name) to invoker \(ids[index]): \(report.reason)")
                case .success(let other):
                    shared.fail("invoker \(ids[index]) got an unexpected \(other.command)")
                case .failure(let error):
                    shared.fail("invoker \(ids[index]) got an undecodable message: \(error)")
                }
            }
        }

        // Every session heartbeats on time, even while a burst keeps one pass busy for
        // seconds: a late round would get the last invokers of it declared lost. Each socket
        // has its own phase, so 1,000 invokers do not send 1,000 heartbeats in one burst
        // (which stalled this thread, and the answers it owes, every interval).
        let phase = heartbeatNanoseconds / UInt64(max(sockets.count, 1))
        var nextBeat = sockets.indices.map { lastHeartbeat + UInt64($0) * phase }
        var beatCursor = 0
        func heartbeatIfDue() throws {
            guard case .broker = topology, !sockets.isEmpty else { return }
            let now = monotonicNanoseconds()
            // Sockets come due in cursor order; stop at the first that is not due yet.
            var sent = 0
            while sent < sockets.count, nextBeat[beatCursor] <= now {
                try sockets[beatCursor].send(.heartbeat, flags: .dontWait)
                markReady(beatCursor)
                nextBeat[beatCursor] += heartbeatNanoseconds
                if nextBeat[beatCursor] <= now { nextBeat[beatCursor] = now + heartbeatNanoseconds }
                beatCursor = (beatCursor + 1) % sockets.count
                sent += 1
            }
        }

        var woken: [Int] = []
        var passing: [Int] = []
        while !shared.stop.load(ordering: .acquiring) {
            // Ask epoll on every pass (without waiting while work is queued), so a socket that
            // signalled waits at most one pass behind sockets that keep having messages.
            try epoll.wait(timeoutMilliseconds: ready.isEmpty ? 5 : 0, into: &woken)
            for index in woken { markReady(index) }
            woken.removeAll(keepingCapacity: true)
            // One pass over what is ready; sockets that still have messages go to the next
            // pass, so heartbeats and releases below are never starved by a busy socket.
            swap(&ready, &passing)
            for (position, index) in passing.enumerated() {
                if position % 32 == 31 { try heartbeatIfDue() }
                try service(index)
                // Reading ZMQ_EVENTS takes in what arrived while we sent; if anything did,
                // go round again rather than wait for a signal that may not come.
                if sockets[index].isReadable {
                    ready.append(index)
                } else {
                    queued[index] = false
                }
            }
            passing.removeAll(keepingCapacity: true)
            if !held.isEmpty && shared.release.load(ordering: .acquiring) {
                for entry in held {
                    try answer(entry.socket, route: entry.route, id: entry.id)
                    markReady(entry.socket)
                }
                held.removeAll()
            }
            try heartbeatIfDue()
        }
    }
}

/// Controllers on one thread: closed loop (a window each) or open loop (a schedule).
final class ControllerDriver: @unchecked Sendable {
    let configuration: BenchConfiguration
    let topology: Topology
    let context: ZMQContext
    let shared: SharedProgress

    // Results, read after the thread ends.
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .three)
    var timeline: [TimelinePoint] = []
    var kinds = [Int](repeating: 0, count: AnswerKind.allCases.count)
    var sent = 0
    var answered = 0
    var unexpected = 0
    /// HELLOs sent again after the broker ended a session (ERROR notRegistered).
    var sessionsResumed = 0
    var measuredAnswers = 0
    var measuredSeconds = 0.0
    var clientCPUSeconds = 0.0
    var brokerCPUSeconds: Double?
    /// The broker's CPU over the measured time, by thread.
    var brokerThreadCPU: ThreadCPU?
    var brokerPID: Int32?

    init(configuration: BenchConfiguration, topology: Topology, context: ZMQContext, shared: SharedProgress) {
        self.configuration = configuration
        self.topology = topology
        self.context = context
        self.shared = shared
    }

    func run() {
        do {
            try loop()
        } catch {
            shared.fail("controller driver: \(error)")
        }
    }

    private static let ringBits = 20
    private static let ringMask = (1 << ringBits) - 1

    private func loop() throws {
        let count = configuration.controllers
        let payload = [UInt8](repeating: 0x70, count: configuration.payloadBytes)
        var sockets: [ZMQSocket] = []
        for index in 0..<count {
            let socket = try ZMQSocket(context, type: .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.setSendHighWaterMark(0)
            try socket.setReceiveHighWaterMark(0)
            switch topology {
            case .broker(let endpoint, _):
                try socket.connect(endpoint)
                try socket.send(.controllerHello(controllerID: "bench-c\(index)"))
            case .direct:
                for endpoint in shared.directEndpoints.withLock({ $0 }) { try socket.connect(endpoint) }
                shared.controllersReady.add(1, ordering: .relaxed)
            }
            sockets.append(socket)
        }
        // Wait for WELCOME (broker) so the clock starts with every session up.
        if case .broker = topology {
            let deadline = monotonicNanoseconds() + 10_000_000_000
            var welcomed = Set<Int>()
            while welcomed.count < count {
                if monotonicNanoseconds() > deadline { shared.fail("controllers were not welcomed within 10 s"); return }
                for (index, socket) in sockets.enumerated() {
                    while let frames = try socket.receiveMultipart(flags: .dontWait) {
                        if case .success(.welcome) = Wire.decode(frames[...], channel: .brokerToController).0 { welcomed.insert(index) }
                    }
                }
                usleep(1_000)
            }
            shared.controllersReady.store(count, ordering: .relaxed)
        }

        var sendTimes = [[UInt64]](repeating: [UInt64](repeating: 0, count: Self.ringMask + 1), count: count)
        var nextSequence = [Int](repeating: 0, count: count)
        var outstanding = [Int](repeating: 0, count: count)
        let holding = configuration.holdCount > 0
        let start = monotonicNanoseconds()
        let warmEnd = start + (holding ? 0 : configuration.warmup.nanosecondsValue)
        let sendEnd = warmEnd + (holding ? 0 : configuration.duration.nanosecondsValue)
        let drainEnd = sendEnd + configuration.drainTimeout.nanosecondsValue + (holding ? 600_000_000_000 : 0)
        var interval = Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .two)
        var intervalAnswers = 0
        var intervalStart = start
        var lastHeartbeat = start
        let clientCPUStart = ProcessSample.current.cpuSeconds
        var brokerCPUStart: Double?
        var brokerThreadsStart: [Int: ThreadSample] = [:]
        var measuredStart: UInt64?
        var stoppedSending = false

        /// The ACTIVATE of activation `id` from controller `index` (first time or again).
        func activate(_ index: Int, _ id: String) throws(ZMQError) {
            let header = RoutingHeader(activationID: id, namespace: "bench", action: "bench/echo",
                                       revision: "", memoryMB: 256, timeLimitMilliseconds: 60_000)
            try sockets[index].send(.activate(header), opaque: ZMQMessage(bytes: payload))
        }

        func send(_ index: Int, scheduled: UInt64) throws(ZMQError) {
            let sequence = nextSequence[index]
            nextSequence[index] += 1
            sendTimes[index][sequence & Self.ringMask] = scheduled
            outstanding[index] += 1
            sent += 1
            try activate(index, BenchID.make(controller: index, sequence: sequence))
        }

        // Sessions being resumed: when the HELLO went out (0: none pending), and the refused
        // ACTIVATEs to send again once WELCOME arrives.
        var helloSentAt = [UInt64](repeating: 0, count: count)
        var refusedIDs = [[String]](repeating: [], count: count)
        func resume(_ index: Int, refused id: String) throws(ZMQError) {
            if !id.isEmpty, let sequence = BenchID.sequence(of: id), sendTimes[index][sequence & Self.ringMask] != 0 {
                refusedIDs[index].append(id)
            }
            // One HELLO until its WELCOME (or a second after, if none came): everything sent
            // meanwhile is refused too, and waits in `refusedIDs`.
            let now = monotonicNanoseconds()
            if helloSentAt[index] == 0 || now - helloSentAt[index] >= 1_000_000_000 {
                helloSentAt[index] = now
                sessionsResumed += 1
                try sockets[index].send(.controllerHello(controllerID: "bench-c\(index)"))
            }
        }
        func resumed(_ index: Int) throws(ZMQError) {
            helloSentAt[index] = 0
            for id in refusedIDs[index] { try activate(index, id) }
            refusedIDs[index].removeAll()
        }

        // Open loop: per-controller schedule.
        let perControllerInterval: UInt64
        var nextDue = [UInt64](repeating: start, count: count)
        switch configuration.load {
        case .open(let rate):
            perControllerInterval = UInt64(1e9 / max(rate / Double(count), 1e-3))
            for index in 0..<count { nextDue[index] = start + UInt64(index) * perControllerInterval / UInt64(count) }
        case .closed(let window):
            perControllerInterval = 0
            // Holding fills the broker in `fillTopUp` below, at the pace it dispatches.
            if !holding {
                for index in 0..<count {
                    for _ in 0..<window { try send(index, scheduled: monotonicNanoseconds()) }
                }
            }
        }

        /// Hold mode runs `holdCount` activations through once (answered at once), so every
        /// connection's libzmq buffers exist before the idle reading; then it fills the broker
        /// with `holdCount` that the invokers hold. Both passes keep at most `holdBacklog`
        /// activations between controllers and invokers: a burst of 100,000 would sit in the
        /// broker's receive queues first, and the allocator keeps those pages afterwards, so
        /// the figure would measure the burst's backlog, not what the broker keeps per activation.
        let holdBacklog = 2_048
        var holdPhase = 0  // 0: warming up, 1: waiting for the idle reading, 2: filling
        var fillStart = UInt64.max  // latencies in hold mode are those of the held activations
        func fillTopUp() throws(ZMQError) {
            guard holding else { return }
            let target = configuration.holdCount
            var index = sent % count
            if holdPhase == 0 {
                while sent < target && sent - answered < holdBacklog {
                    try send(index, scheduled: monotonicNanoseconds())
                    index = (index + 1) % count
                }
                guard answered >= target else { return }
                holdPhase = 1
                shared.warmedUp.store(true, ordering: .releasing)
            }
            if holdPhase == 1 {
                guard shared.holding.load(ordering: .acquiring) else { return }
                holdPhase = 2
                fillStart = monotonicNanoseconds()
            }
            // Every fill activation must be held until the release: one answered before it
            // (expired, refused, timed out) means the cluster cannot hold them all.
            if answered > target && !shared.release.load(ordering: .acquiring) {
                shared.fail("an activation meant to be held was answered before the release (\(kinds.enumerated().filter { $0.offset != Int(AnswerKind.success.rawValue) && $0.element > 0 }.map { "\(AnswerKind(rawValue: UInt8($0.offset)).map { "\($0)" } ?? "?")=\($0.element)" }.joined(separator: " "))): the invokers cannot hold \(target); raise --invokers or --slots")
                return
            }
            while sent < 2 * target && sent - target - shared.held.load(ordering: .relaxed) < holdBacklog {
                try send(index, scheduled: monotonicNanoseconds())
                index = (index + 1) % count
            }
        }
        try fillTopUp()

        var poller = ZMQPoller()
        for socket in sockets { _ = poller.add(socket) }
        while !shared.stop.load(ordering: .acquiring) {
            var now = monotonicNanoseconds()
            if measuredStart == nil && now >= warmEnd {
                measuredStart = now
                brokerCPUStart = brokerPID.flatMap { ProcessSample.of(pid: $0)?.cpuSeconds }
                brokerThreadsStart = brokerPID.map { ThreadSample.of(pid: $0) } ?? [:]
            }
            if !stoppedSending && (holding || now >= sendEnd) {
                if !holding {
                    stoppedSending = true
                    measuredSeconds = Double(now - (measuredStart ?? now)) / 1e9
                    clientCPUSeconds = ProcessSample.current.cpuSeconds - clientCPUStart
                    if let base = brokerCPUStart, let pid = brokerPID, let end = ProcessSample.of(pid: pid)?.cpuSeconds {
                        brokerCPUSeconds = end - base
                        let threads = ThreadSample.of(pid: pid)
                        if !threads.isEmpty {
                            brokerThreadCPU = ThreadCPU(from: brokerThreadsStart, to: threads,
                                                        loopName: ProcessThreads.loopName, ioPrefix: ProcessThreads.ioPrefix)
                        }
                    }
                } else {
                    stoppedSending = true
                }
            }
            try fillTopUp()
            let pending = outstanding.reduce(0, +)
            if stoppedSending && pending == 0 && (!holding || (holdPhase == 2 && sent >= 2 * configuration.holdCount)) { break }
            if now >= drainEnd { break }

            var timeout = 5
            var nearGap: UInt64 = 0
            if case .open = configuration.load, !stoppedSending {
                var burst = 0
                for index in 0..<count {
                    while nextDue[index] <= now && burst < 512 {
                        try send(index, scheduled: nextDue[index])
                        nextDue[index] += perControllerInterval
                        burst += 1
                    }
                }
                let soonest = nextDue.min() ?? now
                // zmq_poll counts in milliseconds: wait that way while the next send is far,
                // and in short sleeps when it is near, so the sender never spins a core that
                // the broker and invokers need (it would show up as their latency).
                let gap = soonest > now ? soonest - now : 0
                timeout = gap >= 2_000_000 ? Int(min(gap / 1_000_000 - 1, 5)) : 0
                nearGap = gap < 2_000_000 ? gap : 0
            }
            let ready = try poller.poll(timeoutMilliseconds: timeout)
            if ready == 0 && nearGap > 0 { usleep(UInt32(min(nearGap / 1_000, 100))) }
            nearGap = 0
            now = monotonicNanoseconds()
            for (index, socket) in sockets.enumerated() where poller.isReadable(index) {
                // At most a batch per socket per pass: a flood of answers must not keep this
                // thread from the heartbeats below for seconds (the broker would drop the session).
                var taken = 0
                while taken < 256, let frames = try socket.receiveMultipart(flags: .dontWait) {
                    taken += 1
                    guard case .success(.answer(let header)) = Wire.decode(frames[...], channel: .brokerToController).0 else {
                        let decoded = Wire.decode(frames[...], channel: .brokerToController).0
                        if case .success(.welcome) = decoded, helloSentAt[index] != 0 {
                            try resumed(index)
                        } else if case .success(.error(let report)) = decoded {
                            if report.code == .notRegistered {
                                // The broker ended the session (a burst of answers filled this
                                // connection, §6.4): say HELLO again like every client does; its
                                // kept answers follow the WELCOME. A refused ACTIVATE was never
                                // accepted, so it is sent again.
                                try resume(index, refused: report.activationID)
                            } else {
                                shared.fail("broker sent ERROR \(report.code.name) to a controller: \(report.reason)")
                            }
                        }
                        continue
                    }
                    let id = header.activationID
                    guard let sequence = BenchID.sequence(of: id), sendTimes[index][sequence & Self.ringMask] != 0 else {
                        unexpected += 1
                        continue
                    }
                    let sentAt = sendTimes[index][sequence & Self.ringMask]
                    sendTimes[index][sequence & Self.ringMask] = 0
                    outstanding[index] -= 1
                    answered += 1
                    kinds[Int(header.kind.rawValue)] += 1
                    let arrived = monotonicNanoseconds()
                    let latencyNanoseconds = arrived > sentAt ? arrived - sentAt : 0
                    if measuredStart != nil && sentAt >= warmEnd && (holding ? sentAt >= fillStart : sentAt < sendEnd) {
                        _ = latency.record(max(latencyNanoseconds, 1_000))
                        measuredAnswers += 1
                    }
                    _ = interval.record(max(latencyNanoseconds, 1_000))
                    intervalAnswers += 1
                    if case .closed = configuration.load, !holding, !stoppedSending { try send(index, scheduled: arrived) }
                }
            }
            shared.answered.store(answered, ordering: .relaxed)
            now = monotonicNanoseconds()
            if now - intervalStart >= 1_000_000_000 {
                let seconds = Double(now - start) / 1e9
                let point = TimelinePoint(second: seconds, answersPerSecond: Double(intervalAnswers) / (Double(now - intervalStart) / 1e9),
                                          p50Microseconds: Double(interval.valueAtPercentile(50)) / 1_000,
                                          p99Microseconds: Double(interval.valueAtPercentile(99)) / 1_000)
                timeline.append(point)
                if configuration.progress {
                    FileHandle.standardError.write(Data(String(format: "  %5.1fs  %9.0f rt/s  p50 %8.1f us  p99 %8.1f us  outstanding %d\n",
                                                               seconds, point.answersPerSecond, point.p50Microseconds,
                                                               point.p99Microseconds, outstanding.reduce(0, +)).utf8))
                }
                interval.reset()
                intervalAnswers = 0
                intervalStart = now
            }
            if case .broker = topology, now - lastHeartbeat >= 500_000_000 {
                lastHeartbeat = now
                for socket in sockets { try socket.send(.heartbeat, flags: .dontWait) }
            }
        }
        if holding {
            measuredSeconds = Double(monotonicNanoseconds() - start) / 1e9
            clientCPUSeconds = ProcessSample.current.cpuSeconds - clientCPUStart
        }
    }
}

/// Throughput and latency over one second of a run.
public struct TimelinePoint: Sendable, Codable {
    public var second: Double
    public var answersPerSecond: Double
    public var p50Microseconds: Double
    public var p99Microseconds: Double
}

/// Activation ids shaped like OpenWhisk's (32 lowercase hex digits), so the broker stores what
/// it stores in production: 8 digits of controller, 24 of sequence.
enum BenchID {
    private static let digits = Array("0123456789abcdef".utf8)

    static func make(controller: Int, sequence: Int) -> String {
        var bytes = [UInt8](repeating: 0x30, count: 32)
        var value = UInt64(sequence)
        for position in stride(from: 31, through: 8, by: -1) {
            bytes[position] = digits[Int(value & 0xF)]
            value >>= 4
        }
        var prefix = UInt32(truncatingIfNeeded: controller)
        for position in stride(from: 7, through: 0, by: -1) {
            bytes[position] = digits[Int(prefix & 0xF)]
            prefix >>= 4
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The sequence number of an id made by `make`, nil for anything else.
    static func sequence(of id: String) -> Int? {
        let utf8 = id.utf8
        guard utf8.count == 32 else { return nil }
        var value = 0
        for byte in utf8.dropFirst(8) {
            let digit: Int
            switch byte {
            case 0x30...0x39: digit = Int(byte - 0x30)
            case 0x61...0x66: digit = Int(byte - 0x61 + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        return value
    }
}
