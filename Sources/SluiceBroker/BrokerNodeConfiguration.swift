import ZeroMQ
import SluiceCore
import SluiceMonitor
import SluicePluginAPI
import SluiceStrategies

/// Settings of a broker node: the core's rules plus the shell's sockets and timings.
public struct BrokerNodeConfiguration: Sendable, Equatable {
    /// Where controllers connect (ZeroMQ endpoint; `tcp://127.0.0.1:*` picks a free port).
    public var controllerEndpoint = "tcp://127.0.0.1:5671"
    /// Where invokers connect.
    public var invokerEndpoint = "tcp://127.0.0.1:5672"
    /// The rules of the core (timeouts, bounds, health).
    public var core = BrokerConfiguration()
    /// Placement strategy by name (`routing.strategy`).
    public var strategy = "least-loaded"
    /// The strategy's parameters (`routing.<strategy>.*`), as text.
    public var strategyParameters: [String: String] = [:]
    /// How long in-flight work may finish after a shutdown signal.
    public var shutdownGrace: Duration = .seconds(10)
    /// How long sockets keep flushing answers after the loop stops.
    public var closeLinger: Duration = .seconds(2)
    /// Timer resolution of the loop (deadlines, heartbeats, liveness).
    public var tickInterval: Duration = .milliseconds(20)
    /// Messages taken from one socket per wake-up before the other gets its turn.
    public var batchSize = 256
    /// How often a one-line summary of the counters is logged (zero: never).
    public var statsInterval: Duration = .seconds(60)
    /// Send high-water mark per peer, messages.
    /// Messages libzmq queues per peer connection before a send fails (`ZMQ_SNDHWM`). A
    /// controller that stops reading fills it; then its answers are kept by the core, which is
    /// bounded (`answers.max-parked`), instead of piling up in libzmq. An invoker never has more
    /// queued than its slots plus heartbeats.
    public var sendHighWaterMark: Int32 = 10_000
    public var receiveHighWaterMark: Int32 = 100_000
    /// Where waiting work is kept (`overflow.*`); the executable opens the store.
    public var overflow = OverflowSettings()
    /// Transport security of both endpoints (applied in `BrokerLoop.makeRouter`).
    public var security = TransportSecurity.none
    /// The HTTP monitoring endpoint (`monitor.*`, docs/OPERATIONS.md).
    public var monitor = MonitorSettings()
    /// Cluster membership in etcd (`cluster.*`, docs/CLUSTER.md); nil: a single node.
    public var cluster: ClusterSettings?
    /// The placement trace (`trace.*`, `--record-trace`, docs/TRACES.md); off without a path.
    public var trace = TraceSettings()

    public init() {}

    /// Throws naming the first bad key, including the strategy's parameters.
    public func validate(strategies: StrategyRegistry = BuiltInStrategies.registry) throws(BrokerConfiguration.Invalid) {
        try core.validate()
        do {
            _ = try strategies.make(strategy, parameters: strategyParameters)
        } catch {
            throw .init(key: error.key, problem: error.problem)
        }
        guard sendHighWaterMark >= 1 else {
            throw .init(key: "send-high-water-mark", problem: "must be at least 1; got \(sendHighWaterMark)")
        }
        if case .curve(let curve) = security {
            guard Curve.isKey(curve.serverSecretKey) else {
                throw .init(key: "security.key-file", problem: "the broker's secret key is not a 40-character Z85 CURVE key (make one with `sluice keygen`)")
            }
            for (key, list) in [("security.controller-keys", curve.controllerKeys), ("security.invoker-keys", curve.invokerKeys)] {
                if let bad = list.first(where: { !Curve.isKey($0) }) {
                    throw .init(key: key, problem: "'\(bad)' is not a 40-character Z85 CURVE public key")
                }
            }
            if curve.controllerKeys.isEmpty && curve.invokerKeys.isEmpty {
                throw .init(key: "security.controller-keys", problem: "CURVE is on but no client key is allowed on either endpoint; list the public keys of your controllers and invokers")
            }
        }
        for (key, endpoint) in [("controller-endpoint", controllerEndpoint), ("invoker-endpoint", invokerEndpoint)] {
            guard endpoint.contains("://") else {
                throw .init(key: key, problem: "'\(endpoint)' is not a ZeroMQ endpoint such as tcp://127.0.0.1:5671")
            }
        }
        if controllerEndpoint == invokerEndpoint && !controllerEndpoint.hasSuffix(":*") {
            throw .init(key: "invoker-endpoint", problem: "must differ from controller-endpoint")
        }
        if shutdownGrace < .zero { throw .init(key: "shutdown-grace", problem: "must not be negative") }
        if tickInterval < .milliseconds(1) || tickInterval > .seconds(1) {
            throw .init(key: "tick-interval", problem: "must be between 1 ms and 1 s")
        }
        if batchSize < 1 { throw .init(key: "batch-size", problem: "must be at least 1") }
        if let endpoint = monitor.endpoint, !MonitorSettings.isEndpoint(endpoint) {
            throw .init(key: "monitor.endpoint", problem: "'\(endpoint)' is not host:port such as 127.0.0.1:5680 (or off)")
        }
        if monitor.limits.topNamespaces < 0 { throw .init(key: "monitor.top-namespaces", problem: "must not be negative") }
        if monitor.limits.maxInvokerSeries < 0 { throw .init(key: "monitor.max-invoker-series", problem: "must not be negative") }
        if monitor.stallAfter < .seconds(1) { throw .init(key: "monitor.stall-after", problem: "must be at least 1s") }
        if let cluster {
            if cluster.name.isEmpty || cluster.name.contains(where: { !($0.isLetter || $0.isNumber || "._-".contains($0)) }) {
                throw .init(key: "cluster.name", problem: "'\(cluster.name)' must be 1 or more of [A-Za-z0-9._-]")
            }
            if cluster.etcd.isEmpty {
                throw .init(key: "cluster.etcd", problem: "a cluster needs etcd's client URLs, such as http://127.0.0.1:2379")
            }
            if cluster.leaseTTL < .seconds(2) { throw .init(key: "cluster.lease-ttl", problem: "must be at least 2s (etcd's smallest)") }
            if core.brokerID == BrokerConfiguration().brokerID {
                throw .init(key: "broker.id", problem: "each broker of a cluster needs its own id (--broker-id); '\(core.brokerID)' is the single-node default")
            }
        }
        switch overflow.store {
        case "memory": break
        case "disk":
            if overflow.path?.isEmpty ?? true {
                throw .init(key: "overflow.disk.path", problem: "the disk store needs a directory (overflow.disk.path or --overflow-path)")
            }
            if overflow.budgetBytes < 1024 * 1024 { throw .init(key: "overflow.disk.budget-bytes", problem: "must be at least 1048576") }
            if overflow.segmentBytes < 4096 { throw .init(key: "overflow.disk.segment-bytes", problem: "must be at least 4096") }
        default:
            throw .init(key: "overflow.store", problem: "unknown store '\(overflow.store)'; known: memory, disk")
        }
        if trace.path?.isEmpty == true { throw .init(key: "trace.path", problem: "must name a file (or leave it out: no trace)") }
        if trace.segmentBytes < 1 << 16 { throw .init(key: "trace.segment-bytes", problem: "must be at least 65536; got \(trace.segmentBytes)") }
        if trace.budgetBytes < trace.segmentBytes {
            throw .init(key: "trace.budget-bytes", problem: "must be at least trace.segment-bytes (\(trace.segmentBytes)); got \(trace.budgetBytes)")
        }
    }
}

/// Where and how much of a placement trace is recorded (docs/TRACES.md).
public struct TraceSettings: Sendable, Equatable {
    /// The first segment's file; later segments add `.1`, `.2`, ... nil: no trace.
    public var path: String?
    /// Largest segment file, bytes.
    public var segmentBytes = 64 << 20
    /// All segments together; recording stops (with a warning) when it is reached.
    public var budgetBytes = 1 << 30

    public init() {}
}

/// How the broker's endpoints are secured (docs/SECURITY.md).
public enum TransportSecurity: Sendable, Equatable {
    /// Plaintext, no authentication: loopback or a private network only.
    case none
    /// CURVE encryption on both endpoints, and a ZAP handler that lets in only the listed
    /// client keys, each on its own role's endpoint.
    case curve(CurveSettings)
}

/// The broker's CURVE secret key and the client public keys allowed per role (Z85 text).
public struct CurveSettings: Sendable, Equatable {
    public var serverSecretKey: String
    /// Controller public keys (Z85) and the ids each may use in HELLO (docs/SECURITY.md).
    public var controllerIDs: [String: Set<String>]
    /// Invoker public keys (Z85) and the ids each may use in HELLO.
    public var invokerIDs: [String: Set<String>]

    public init(serverSecretKey: String, controllerIDs: [String: Set<String>], invokerIDs: [String: Set<String>]) {
        self.serverSecretKey = serverSecretKey
        self.controllerIDs = controllerIDs
        self.invokerIDs = invokerIDs
    }

    public var controllerKeys: Set<String> { Set(controllerIDs.keys) }
    public var invokerKeys: Set<String> { Set(invokerIDs.keys) }

    /// The ids `key` may say HELLO as on `endpoint` (empty: none).
    public func ids(for key: String, on endpoint: Endpoint) -> Set<String> {
        (endpoint == .controller ? controllerIDs : invokerIDs)[key] ?? []
    }
}

/// Where waiting work is kept (docs/CONFIGURATION.md, `overflow.*`).
public struct OverflowSettings: Sendable, Equatable {
    /// `memory` (default: nothing written, lost on restart) or `disk`.
    public var store = "memory"
    /// The disk store's directory.
    public var path: String?
    /// Past this many bytes on disk, new overflow is answered `overloaded`.
    public var budgetBytes = 1024 * 1024 * 1024
    public var segmentBytes = 64 * 1024 * 1024
    /// `every-batch`, `never`, or an interval such as `50ms`.
    public var fsync = "every-batch"

    public init() {}
}

/// Membership of a cluster (docs/CLUSTER.md).
public struct ClusterSettings: Sendable, Equatable {
    public var name: String
    /// etcd client URLs.
    public var etcd: [String]
    /// TTL of the lease this broker's keys hang on; keepalives go every third of it.
    public var leaseTTL: Duration = .seconds(3)

    public init(name: String, etcd: [String]) {
        self.name = name
        self.etcd = etcd
    }
}

/// The monitoring endpoint's settings (docs/OPERATIONS.md).
public struct MonitorSettings: Sendable, Equatable {
    /// `host:port` to serve HTTP on; nil: no monitoring endpoint. The library default is off; the
    /// `sluice broker` command's default is 127.0.0.1:5680. Port 0 picks a free port.
    public var endpoint: String?
    /// Bounds on per-namespace and per-invoker series.
    public var limits = MetricLimits()
    /// `/healthz` fails once the loop has not ticked for this long.
    public var stallAfter: Duration = .seconds(5)

    public init(endpoint: String? = nil) { self.endpoint = endpoint }

    /// The `sluice broker` default: loopback only.
    public static let defaultEndpoint = "127.0.0.1:5680"

    static func isEndpoint(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex, let port = Int(text[text.index(after: colon)...]) else {
            return false
        }
        return (0...65535).contains(port)
    }
}

extension BrokerNodeConfiguration {
    /// The settings in force as `/status` lists them, by configuration key. Secrets (the CURVE
    /// keys) are never listed; only whether CURVE is on and how many client keys are allowed.
    public var publicSettings: [ConfigurationEntry] {
        var entries: [ConfigurationEntry] = [
            .init("broker.id", core.brokerID),
            .init("broker.controller-endpoint", controllerEndpoint),
            .init("broker.invoker-endpoint", invokerEndpoint),
            .init("broker.heartbeat-interval", core.heartbeatInterval.configurationText),
            .init("broker.liveness", "\(core.liveness)"),
            .init("broker.max-message-bytes", "\(core.maxMessageBytes)"),
            .init("broker.shutdown-grace", shutdownGrace.configurationText),
            .init("broker.send-high-water-mark", "\(sendHighWaterMark)"),
            .init("waiting.max", "\(core.maxWaiting)"),
            .init("waiting.max-bytes", "\(core.maxWaitingBytes)"),
            .init("waiting.max-age", core.maxWaitingAge.configurationText),
            .init("waiting.max-per-action", "\(core.maxWaitingPerAction)"),
            .init("waiting.max-per-namespace", "\(core.maxWaitingPerNamespace)"),
            .init("namespaces.concurrency", core.namespaceConcurrencyLimit.map { "\($0)" } ?? "none"),
            .init("circuit-breaker.floor", core.completionTimeoutFloor.configurationText),
            .init("circuit-breaker.multiplier", "\(core.completionTimeoutMultiplier)"),
            .init("circuit-breaker.slack", core.completionTimeoutSlack.configurationText),
            .init("health.window", "\(core.healthWindow)"),
            .init("health.max-system-errors", "\(core.maxSystemErrors)"),
            .init("health.max-timeouts", "\(core.maxTimeouts)"),
            .init("health.cooldown", core.healthCooldown.configurationText),
            .init("answers.max-parked", "\(core.maxParkedAnswersPerController)"),
            .init("answers.max-parked-age", core.maxParkedAnswerAge.configurationText),
            .init("routing.strategy", strategy),
            .init("overflow.store", overflow.store),
            .init("monitor.endpoint", monitor.endpoint ?? "off"),
            .init("monitor.top-namespaces", "\(monitor.limits.topNamespaces)"),
            .init("monitor.max-invoker-series", "\(monitor.limits.maxInvokerSeries)"),
            .init("monitor.stall-after", monitor.stallAfter.configurationText),
        ]
        for (name, value) in strategyParameters.sorted(by: { $0.key < $1.key }) {
            entries.append(.init("routing.\(strategy).\(name)", value))
        }
        for (namespace, limit) in core.namespaceConcurrencyLimits.sorted(by: { $0.key < $1.key }) {
            entries.append(.init("namespaces.limits.\(namespace)", "\(limit)"))
        }
        if overflow.store == "disk" {
            entries += [
                .init("overflow.disk.path", overflow.path ?? ""),
                .init("overflow.disk.budget-bytes", "\(overflow.budgetBytes)"),
                .init("overflow.disk.segment-bytes", "\(overflow.segmentBytes)"),
                .init("overflow.disk.fsync", overflow.fsync),
            ]
        }
        if let path = trace.path {
            entries += [
                .init("trace.path", path),
                .init("trace.segment-bytes", "\(trace.segmentBytes)"),
                .init("trace.budget-bytes", "\(trace.budgetBytes)"),
            ]
        }
        if let cluster {
            entries += [
                .init("cluster.name", cluster.name),
                .init("cluster.etcd", cluster.etcd.joined(separator: ",")),
                .init("cluster.lease-ttl", cluster.leaseTTL.configurationText),
            ]
        }
        switch security {
        case .none:
            entries.append(.init("security.curve", "false"))
        case .curve(let curve):
            entries += [
                .init("security.curve", "true"),
                .init("security.controller-keys", "\(curve.controllerKeys.count) keys"),
                .init("security.invoker-keys", "\(curve.invokerKeys.count) keys"),
            ]
        }
        return entries
    }
}

extension Duration {
    /// As the configuration file writes it: `250ms`, `10s`, `5m`.
    var configurationText: String {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 60_000 == 0 && milliseconds >= 60_000 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}
