import Foundation
import Logging
import ServiceLifecycle
import SluiceCore
import SluiceMonitor
import SluicePluginAPI
import Synchronization
import ZeroMQ
import SluiceStrategies

/// A Sluice broker node: binds the controller and invoker endpoints and routes activations
/// on one dedicated loop thread.
///
/// `start()` returns once both endpoints are bound (or throws why they could not be).
/// `requestShutdown()` begins a graceful shutdown: new activations are refused, waiting work
/// is answered, in-flight work gets `shutdownGrace` to finish, the rest is answered, and the
/// loop exits. Thread-safe.
public final class Broker: Sendable {
    public let configuration: BrokerNodeConfiguration
    let logger: Logger
    let control: BrokerControl
    private let context: ZMQContext
    private let state = Mutex(State())

    struct State {
        var endpoints: BoundEndpoints?
        var finished = false
        var failure: String?
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var monitor: MonitorServer?
        var cluster: ClusterAgent?
        /// The loop has ended; `finished` follows once the cluster is left.
        var stopping = false
    }

    /// What the loop publishes for the monitoring endpoint; nil when it is off.
    public let monitorFeed: MonitorFeed?

    let strategies: StrategyRegistry

    /// Opens the overflow store on the loop thread; nil: in memory only.
    let makeOverflowStore: (@Sendable () throws -> any OverflowStore)?

    /// - Parameter overflowStore: makes the store waiting work is journaled to (called once, on
    ///   the loop thread, which then owns it); nil keeps waiting work in memory only.
    public init(configuration: BrokerNodeConfiguration, strategies: StrategyRegistry = BuiltInStrategies.registry,
                overflowStore: (@Sendable () throws -> any OverflowStore)? = nil, logger: Logger) throws {
        self.makeOverflowStore = overflowStore
        try configuration.validate(strategies: strategies)
        var configuration = configuration
        // A member of a cluster is a new incarnation at every start (§9.1).
        if configuration.cluster != nil && configuration.core.incarnation == nil {
            configuration.core.incarnation = UInt64.random(in: 1 ... .max)
        }
        self.configuration = configuration
        self.strategies = strategies
        self.logger = logger
        self.control = try BrokerControl()
        control.publishStrategy(configuration.strategy)
        monitorFeed = configuration.monitor.endpoint == nil ? nil
            : MonitorFeed(version: SluiceVersion.current, configuration: configuration.publicSettings,
                          stallAfter: configuration.monitor.stallAfter)
        self.context = try ZMQContext()
    }

    /// Binds the endpoints and starts the loop thread; returns the endpoints once they are
    /// bound, suspending (never blocking) the caller meanwhile. Throws if binding, opening the
    /// overflow store or making the strategy fails.
    ///
    /// With a monitoring endpoint configured, it is bound first: a port in use stops start-up
    /// (`MonitorBindFailure`) before anything else is bound.
    @discardableResult
    public func start() async throws -> BoundEndpoints {
        var monitor: MonitorServer?
        if let endpoint = configuration.monitor.endpoint, let monitorFeed {
            monitor = try await MonitorServer.start(endpoint: endpoint, feed: monitorFeed, limits: configuration.monitor.limits)
            state.withLock { $0.monitor = monitor }
        }
        let started: Result<BoundEndpoints, any Error> = await withCheckedContinuation { continuation in
            startThread { continuation.resume(returning: $0) }
        }
        var endpoints: BoundEndpoints
        do {
            endpoints = try started.get()
            endpoints.monitor = monitor?.address
        } catch {
            await monitor?.stop()
            throw error
        }
        if let settings = configuration.cluster {
            // Joined once bound, so the record names the real endpoints; a broker that cannot
            // join stops before anybody is told it exists.
            do {
                let agent = try ClusterAgent(settings: settings, brokerID: configuration.core.brokerID,
                                             incarnation: configuration.core.incarnation ?? 1, endpoints: endpoints, logger: logger)
                let control = control
                try await agent.join(status: {
                    let status = control.status
                    return (status.invokers, status.slots)
                }, feed: monitorFeed, invokerEvents: control.invokerEvents, members: { control.setMembers($0, otherSlots: $1) })
                // The loop may have stopped while joining: then leave at once.
                let finished = state.withLock { state -> Bool in
                    let over = state.finished || state.stopping
                    if !over { state.cluster = agent }
                    return over
                }
                if finished { await agent.leave() }
            } catch {
                requestShutdown()
                await waitUntilStopped()
                await monitor?.stop()
                throw ClusterJoinFailure(cluster: settings.name, reason: "\(error)")
            }
        }
        return endpoints
    }

    /// The monitoring endpoint's server while it runs (nil when it is off or stopped).
    public var monitor: MonitorServer? { state.withLock { $0.monitor } }

    /// Starts the loop thread; `ready` is called once, from that thread, when the endpoints
    /// are bound or starting failed.
    private func startThread(ready: @escaping @Sendable (Result<BoundEndpoints, any Error>) -> Void) {
        let thread = Thread { [self] in
            // The name `top -H`, `perf` and /proc/PID/task/*/comm show (15 bytes at most):
            // Foundation's `Thread.name` does not reach the kernel on Linux.
            ProcessThreads.nameCurrentThreadAsLoop()
            var loop: BrokerLoop?
            do {
                let store = try makeOverflowStore?()
                loop = try BrokerLoop(context: context, configuration: configuration, strategies: strategies,
                                      overflowStore: store, control: control, feed: monitorFeed, logger: logger)
                let endpoints = try loop!.endpoints
                state.withLock { $0.endpoints = endpoints }
                ready(.success(endpoints))
            } catch {
                finish(failure: nil)
                ready(.failure(error))
                return
            }
            var failure: String?
            do {
                try loop!.run()
            } catch {
                logger.critical("broker loop failed", metadata: ["error": "\(error)"])
                failure = "\(error)"
            }
            // Close the sockets, then wait (up to their linger, `closeLinger`) until libzmq has
            // sent what they still hold: the last answers of a shutdown must reach their
            // controllers before anyone is told the broker stopped (and the process exits).
            loop = nil
            context.terminate()
            finish(failure: failure)
        }
        thread.name = ProcessThreads.loopName
        thread.start()
    }

    private func finish(failure: String?) {
        monitorFeed?.setState(.stopped)
        // The monitoring endpoint outlives the loop only until it has said so.
        if let monitor = state.withLock({ state in defer { state.monitor = nil }; return state.monitor }) {
            Task { await monitor.stop() }
        }
        for request in control.closeStrategyRequests() {
            request.reply(ParameterError(key: "routing.strategy", problem: "the broker is not running"))
        }
        control.closeInvokerEvents()
        let cluster = state.withLock { state in
            state.stopping = true
            defer { state.cluster = nil }
            return state.cluster
        }
        let complete = { [self] in
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.finished = true
                state.failure = failure
                defer { state.waiters.removeAll() }
                return Array(state.waiters.values)
            }
            for waiter in waiters { waiter.resume() }
        }
        // Leaving the cluster (the record and the claims go at once: the lease is revoked) is
        // done off the loop thread; whoever waits for the broker to stop waits for it too.
        if let cluster {
            Task {
                await cluster.leave()
                complete()
            }
        } else {
            complete()
        }
    }

    /// Begins a graceful shutdown (see the type's documentation). In a cluster, the broker's
    /// record says `leaving` at once, so other members and clients stop sending here.
    public func requestShutdown() {
        control.requestShutdown()
        if let cluster = state.withLock({ $0.cluster }) {
            Task { await cluster.markLeaving() }
        }
    }

    /// Suspends until the loop has stopped. Returns the failure, if the loop failed.
    ///
    /// Cancelling the waiting task asks the broker to shut down (as `requestShutdown()`) and
    /// returns at once, without waiting for the loop thread to finish; the shutdown goes on.
    @discardableResult
    public func waitUntilStopped() async -> String? {
        let waiter = UInt64.random(in: 1 ... .max)
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Bool in
                    if state.finished || Task.isCancelled { return true }
                    state.waiters[waiter] = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            requestShutdown()
            let continuation = state.withLock { $0.waiters.removeValue(forKey: waiter) }
            continuation?.resume()
        }
        return state.withLock { $0.failure }
    }

    /// Switches to another routing strategy while running, between two events: no activation
    /// is lost or answered twice. Returns once the new strategy is in effect; throws (and
    /// changes nothing) if the name or a parameter is invalid, or the broker has stopped.
    ///
    /// The strategy is made, and the old one released, on the loop thread: a strategy plugin
    /// is only ever called there, one call at a time (sluice_plugin.h).
    public func replaceStrategy(_ name: String, parameters: [String: String] = [:]) async throws(ParameterError) {
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<ParameterError?, Never>) in
            control.requestStrategy(StrategyRequest(name: name, parameters: parameters) { error in continuation.resume(returning: error) })
        }
        if let outcome { throw outcome }
    }

    /// Starts recording a placement trace with `settings`, changes where it goes, or stops it
    /// (nil) while the broker runs (a configuration reload, docs/TRACES.md). Throws why not.
    public func setTrace(_ settings: TraceSettings?) async throws(TraceChangeError) {
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            control.requestTrace(TraceRequest(settings: settings) { problem in continuation.resume(returning: problem) })
        }
        if let outcome { throw TraceChangeError(description: outcome) }
    }

    /// A recent snapshot of counters and occupancy.
    public var status: BrokerStatus { control.status }
}

/// A broker as a ServiceLifecycle service: runs until graceful shutdown (SIGTERM/SIGINT in
/// the `sluice` executable), then drains as `Broker.requestShutdown()` describes.
public struct BrokerService: Service {
    public let broker: Broker
    let onStarted: @Sendable (BoundEndpoints) -> Void

    public init(broker: Broker, onStarted: @escaping @Sendable (BoundEndpoints) -> Void = { _ in }) {
        self.broker = broker
        self.onStarted = onStarted
    }

    public func run() async throws {
        let endpoints = try await broker.start()
        onStarted(endpoints)
        let failure = await withGracefulShutdownHandler {
            await broker.waitUntilStopped()
        } onGracefulShutdown: {
            broker.requestShutdown()
        }
        if let failure { throw BrokerFailure(description: failure) }
    }
}

/// The broker loop stopped because of an error, not a shutdown request.
public struct BrokerFailure: Error, CustomStringConvertible {
    public var description: String
}

/// An endpoint could not be bound: names the option, the endpoint and libzmq's reason.
public struct BindFailure: Error, CustomStringConvertible {
    public var key: String
    public var endpoint: String
    public var error: ZMQError

    public var description: String {
        "cannot listen on \(key) \(endpoint): \(error.message) (errno \(error.errno)); is the address local and the port free?"
    }
}

/// Why a placement trace could not be started or changed.
public struct TraceChangeError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
