import Foundation
import Histogram
import SluiceProtocol
import Synchronization
import ZeroMQ

/// What one run measured.
public struct BenchResult: Sendable, Codable {
    public var mode: String
    public var controllers: Int
    public var window: Int
    public var offeredRate: Double?
    public var invokers: Int
    public var slots: Int
    public var payloadBytes: Int
    public var answerBytes: Int
    public var sent: Int
    public var answered: Int
    /// Activations never answered: must be 0.
    public var lost: Int
    /// Answers for activations this run did not send (or a second answer): must be 0.
    public var unexpected: Int
    /// Sessions the broker ended (a connection's send queue was full) and the controller
    /// opened again with HELLO, as clients do (§6.4). Nothing is lost by it.
    public var sessionsResumed: Int = 0
    /// Hold mode: activations held in flight when the peak was read.
    public var heldInFlight: Int?
    public var answersByKind: [String: Int]
    public var measuredSeconds: Double
    public var roundTripsPerSecond: Double
    public var latencyMicroseconds: [String: Double]
    /// CPU used, as a percentage of one core, over the measured time.
    public var clientCPUPercent: Double
    public var brokerCPUPercent: Double?
    /// The broker's (or forwarder's) CPU over the measured time split by thread: its loop,
    /// libzmq's I/O threads, the rest.
    public var brokerThreadCPU: ThreadCPU?
    public var brokerIdleRSSBytes: Int?
    public var brokerPeakRSSBytes: Int?
    /// (peak RSS - idle RSS) / activations in flight, in hold mode.
    public var brokerBytesPerInFlight: Double?
    public var timeline: [TimelinePoint]
    public var failure: String?

    /// Every activation answered exactly once, nothing unexpected, no driver failure.
    public var isClean: Bool { lost == 0 && unexpected == 0 && failure == nil }
}

/// Runs simulated controllers and invokers against a broker (or directly) and measures.
public enum Bench {
    /// A broker to drive: its endpoints and, when known, its process id (for CPU and memory).
    public struct BrokerTarget: Sendable {
        public var controllerEndpoint: String
        public var invokerEndpoint: String
        public var pid: Int32?

        public init(controllerEndpoint: String, invokerEndpoint: String, pid: Int32?) {
            self.controllerEndpoint = controllerEndpoint
            self.invokerEndpoint = invokerEndpoint
            self.pid = pid
        }
    }

    /// Through `broker`, or with no broker at all when nil (the direct baseline).
    public static func run(_ configuration: BenchConfiguration, broker: BrokerTarget?) throws -> BenchResult {
        raiseFileLimit()
        let context = try ZMQContext(ioThreads: 1, maxSockets: Int32(configuration.invokers + configuration.controllers + 64))
        defer { context.shutdown() }
        let topology: Topology = broker.map { .broker(controllerEndpoint: $0.controllerEndpoint, invokerEndpoint: $0.invokerEndpoint) } ?? .direct
        let shared = SharedProgress()
        let threads = max(1, min(configuration.invokerThreads, configuration.invokers))
        let ids = (0..<configuration.invokers).map { "bench-i\($0)" }
        var drivers: [InvokerDriver] = []
        var done: [DispatchSemaphore] = []
        for part in 0..<threads {
            let share = ids.enumerated().filter { $0.offset % threads == part }.map(\.element)
            let driver = InvokerDriver(configuration: configuration, topology: topology, context: context, ids: share, shared: shared)
            drivers.append(driver)
            done.append(spawn("sluice-bench-invokers") { driver.run() })
        }
        defer {
            shared.stop.store(true, ordering: .releasing)
            for semaphore in done { semaphore.wait() }
        }
        try waitFor("\(configuration.invokers) invokers to be ready", timeout: 30, shared: shared) {
            shared.invokersReady.load(ordering: .relaxed) >= configuration.invokers
        }
        var idle = broker?.pid.flatMap { ProcessSample.of(pid: $0) }

        let controller = ControllerDriver(configuration: configuration, topology: topology, context: context, shared: shared)
        controller.brokerPID = broker?.pid
        let controllerDone = spawn("sluice-bench-controllers") { controller.run() }

        var peak: ProcessSample?
        if configuration.holdCount > 0 {
            // Idle means warmed up: every connection has carried traffic (see `fillTopUp`).
            try waitFor("a warm-up pass of \(configuration.holdCount) activations", timeout: 300, shared: shared) {
                shared.warmedUp.load(ordering: .acquiring)
            }
            Thread.sleep(forTimeInterval: 0.5)
            idle = broker?.pid.flatMap { ProcessSample.of(pid: $0) }
            shared.holding.store(true, ordering: .releasing)
            try waitFor("invokers to hold \(configuration.holdCount) activations", timeout: 300, shared: shared) {
                shared.held.load(ordering: .relaxed) >= configuration.holdCount
            }
            // Let the broker settle (its queues are empty: everything is dispatched).
            Thread.sleep(forTimeInterval: 0.5)
            peak = broker?.pid.flatMap { ProcessSample.of(pid: $0) }
            shared.release.store(true, ordering: .releasing)
        }
        controllerDone.wait()
        shared.stop.store(true, ordering: .releasing)

        let histogram = controller.latency
        let seconds = max(controller.measuredSeconds, 1e-9)
        var kinds: [String: Int] = [:]
        for kind in AnswerKind.allCases where controller.kinds[Int(kind.rawValue)] > 0 {
            kinds["\(kind)"] = controller.kinds[Int(kind.rawValue)]
        }
        let openRate: Double? = if case .open(let rate) = configuration.load { rate } else { nil }
        var percentiles: [String: Double] = [:]
        if histogram.totalCount > 0 {
            percentiles["p50"] = Double(histogram.valueAtPercentile(50)) / 1_000
            percentiles["p99"] = Double(histogram.valueAtPercentile(99)) / 1_000
            percentiles["p99.9"] = Double(histogram.valueAtPercentile(99.9)) / 1_000
            percentiles["max"] = Double(histogram.max) / 1_000
        }
        let mode = broker == nil ? "direct" : "broker"
        let rate = Double(controller.measuredAnswers) / seconds
        let clientCPU = controller.clientCPUSeconds / seconds * 100
        let brokerCPU: Double? = controller.brokerCPUSeconds.map { $0 / seconds * 100 }
        var result = BenchResult(
            mode: mode,
            controllers: configuration.controllers, window: configuration.window, offeredRate: openRate,
            invokers: configuration.invokers, slots: configuration.slots,
            payloadBytes: configuration.payloadBytes, answerBytes: configuration.answerBytes,
            sent: controller.sent, answered: controller.answered, lost: controller.sent - controller.answered,
            unexpected: controller.unexpected, answersByKind: kinds, measuredSeconds: controller.measuredSeconds,
            roundTripsPerSecond: rate,
            latencyMicroseconds: percentiles,
            clientCPUPercent: clientCPU,
            brokerCPUPercent: brokerCPU,
            brokerIdleRSSBytes: idle?.residentBytes, brokerPeakRSSBytes: peak?.residentBytes,
            brokerBytesPerInFlight: nil,
            timeline: controller.timeline, failure: shared.failure.withLock { $0 })
        result.sessionsResumed = controller.sessionsResumed
        result.brokerThreadCPU = controller.brokerThreadCPU
        if configuration.holdCount > 0 { result.heldInFlight = configuration.holdCount }
        if let idle, let peak, configuration.holdCount > 0 {
            result.brokerBytesPerInFlight = Double(peak.residentBytes - idle.residentBytes) / Double(configuration.holdCount)
        }
        if configuration.holdCount > 0 {
            result.roundTripsPerSecond = Double(controller.answered) / seconds
        }
        return result
    }

    private static func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let semaphore = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            semaphore.signal()
        }
        thread.name = name
        thread.start()
        return semaphore
    }

    private static func waitFor(_ what: String, timeout: Double, shared: SharedProgress, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if let failure = shared.failure.withLock({ $0 }) { throw BenchFailure("\(failure) (while waiting for \(what))") }
            if Date() > deadline { throw BenchFailure("timed out after \(Int(timeout)) s waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }
}

public struct BenchFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
