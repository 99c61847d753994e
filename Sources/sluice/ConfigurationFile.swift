import Configuration
import Foundation
import Logging
import SluiceBroker
import SluiceCore
import SluicePluginAPI
import SystemPackage
import ZeroMQ

/// The broker's configuration file (YAML), read through swift-configuration with environment
/// overrides (`SLUICE_ROUTING_STRATEGY` overrides `routing.strategy`, and so on).
///
/// The file is read once, by a `ReloadingFileProvider` (which the reloader then watches), into a
/// `ConfigFileSnapshot`; every key is read through one `ConfigReader` (`ConfigurationReading`),
/// so `SLUICE_*` reaches every key. Every key of the file is checked against the schema below, so
/// a typo stops start-up with an error that names the key and lists the valid ones, and a value
/// that cannot be applied stops it naming the key. See docs/CONFIGURATION.md.
enum ConfigurationFile {
    /// Known keys per section; `routing` also takes one section per strategy.
    static let schema: [(section: String, keys: [String])] = [
        ("broker", ["id", "controller-endpoint", "invoker-endpoint", "heartbeat-interval", "liveness", "max-message-bytes",
                    "shutdown-grace", "stats-interval", "send-high-water-mark"]),
        ("waiting", ["max", "max-bytes", "max-age", "max-per-action", "max-per-namespace"]),
        ("namespaces", ["concurrency", "limits"]),
        ("overflow", ["store", "disk"]),
        ("circuit-breaker", ["floor", "multiplier", "slack"]),
        ("health", ["window", "max-system-errors", "max-timeouts", "cooldown"]),
        ("answers", ["max-parked", "max-parked-age"]),
        ("routing", ["strategy", "managed-fraction", "blackbox-fraction", "plugins"]),
        ("security", ["curve", "key-file", "controller-keys", "invoker-keys"]),
        ("monitor", ["endpoint", "top-namespaces", "max-invoker-series", "stall-after"]),
        ("cluster", ["name", "etcd", "lease-ttl"]),
        ("trace", ["path", "segment-bytes", "budget-bytes"]),
    ]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens the file at `path`: its one read. The same provider checks it for changes (every
    /// second and on SIGHUP) once it runs in the service group.
    static func open(_ path: String, logger: Logger) async throws(Failure) -> ReloadingFileProvider<ConfigFileSnapshot> {
        do {
            // allowMissing: a file deleted while running becomes an (empty) snapshot the reloader
            // refuses, instead of a failure only the provider's debug log sees. At start-up,
            // ConfigurationReading refuses the empty snapshot.
            return try await ReloadingFileProvider<ConfigFileSnapshot>(
                filePath: FilePath(path), allowMissing: true, pollInterval: .seconds(1), logger: logger)
        } catch {
            throw Failure(description: "cannot read configuration file \(path): \(error)")
        }
    }

    /// Applies `reading` (the file, if any, under the environment) to `base`; returns the result.
    static func apply(_ reading: ConfigurationReading, strategies: StrategyRegistry,
                      to base: BrokerNodeConfiguration) async throws(Failure) -> BrokerNodeConfiguration {
        if let sections = reading.file?.sections { try checkKeys(sections, strategies: strategies) }
        var node = base

        func read<T>(_ key: String, _ parse: (String) -> T?, expected: String) async throws(Failure) -> T? {
            guard let raw = try await reading.text(ConfigKey(key)) else { return nil }
            guard let value = parse(raw) else {
                throw Failure(description: "invalid configuration '\(key)': '\(raw)' is not \(expected)")
            }
            return value
        }
        let text: (String) -> String? = { $0 }
        let duration: (String) -> Duration? = { DurationArgument(argument: $0)?.duration }
        let integer: (String) -> Int? = { Int($0) }
        let number: (String) -> Double? = { Double($0) }

        if let v = try await read("broker.id", text, expected: "an id") { node.core.brokerID = v }
        if let v = try await read("broker.controller-endpoint", text, expected: "an endpoint") { node.controllerEndpoint = v }
        if let v = try await read("broker.invoker-endpoint", text, expected: "an endpoint") { node.invokerEndpoint = v }
        if let v = try await read("broker.heartbeat-interval", duration, expected: "a duration like 1s") { node.core.heartbeatInterval = v }
        if let v = try await read("broker.liveness", integer, expected: "a whole number") { node.core.liveness = v }
        if let v = try await read("broker.max-message-bytes", integer, expected: "a whole number") { node.core.maxMessageBytes = v }
        if let v = try await read("broker.shutdown-grace", duration, expected: "a duration like 10s") { node.shutdownGrace = v }
        if let v = try await read("broker.stats-interval", duration, expected: "a duration like 60s") { node.statsInterval = v }
        if let v = try await read("broker.send-high-water-mark", { Int32($0) }, expected: "a whole number") { node.sendHighWaterMark = v }
        if let v = try await read("waiting.max", integer, expected: "a whole number") { node.core.maxWaiting = v }
        if let v = try await read("waiting.max-bytes", integer, expected: "a whole number") { node.core.maxWaitingBytes = v }
        if let v = try await read("waiting.max-age", duration, expected: "a duration like 60s") { node.core.maxWaitingAge = v }
        if let v = try await read("waiting.max-per-action", integer, expected: "a whole number") { node.core.maxWaitingPerAction = v }
        if let v = try await read("waiting.max-per-namespace", integer, expected: "a whole number") { node.core.maxWaitingPerNamespace = v }
        if let v = try await read("namespaces.concurrency", integer, expected: "a whole number") { node.core.namespaceConcurrencyLimit = v }
        // The namespaces come from the file; each limit is read through the reader, so
        // SLUICE_NAMESPACES_LIMITS_<NAMESPACE> overrides it.
        for namespace in reading.names(under: ["namespaces", "limits"]) {
            let key = ConfigKey(["namespaces", "limits", namespace])
            guard let raw = try await reading.text(key) else { continue }
            guard let limit = Int(raw) else {
                throw Failure(description: "invalid configuration '\(key)': '\(raw)' is not a whole number")
            }
            node.core.namespaceConcurrencyLimits[namespace] = limit
        }
        if let v = try await read("overflow.store", text, expected: "memory or disk") { node.overflow.store = v }
        if let v = try await read("overflow.disk.path", text, expected: "a directory") { node.overflow.path = v }
        if let v = try await read("overflow.disk.budget-bytes", integer, expected: "a whole number") { node.overflow.budgetBytes = v }
        if let v = try await read("overflow.disk.segment-bytes", integer, expected: "a whole number") { node.overflow.segmentBytes = v }
        if let v = try await read("overflow.disk.fsync", text, expected: "every-batch, never or an interval like 50ms") { node.overflow.fsync = v }
        if let v = try await read("trace.path", text, expected: "a file to record the placement trace to") { node.trace.path = v }
        if let v = try await read("trace.segment-bytes", integer, expected: "a whole number") { node.trace.segmentBytes = v }
        if let v = try await read("trace.budget-bytes", integer, expected: "a whole number") { node.trace.budgetBytes = v }
        if let name = try await read("cluster.name", text, expected: "a cluster name") {
            node.cluster = ClusterSettings(name: name, etcd: node.cluster?.etcd ?? [])
        }
        if let v = try await read("cluster.etcd", text, expected: "etcd client URLs, comma separated") {
            let urls = v.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            if node.cluster == nil { node.cluster = ClusterSettings(name: "", etcd: urls) } else { node.cluster?.etcd = urls }
        }
        if let v = try await read("cluster.lease-ttl", duration, expected: "a duration like 3s") {
            if node.cluster == nil { node.cluster = ClusterSettings(name: "", etcd: []) }
            node.cluster?.leaseTTL = v
        }
        if let v = try await read("monitor.endpoint", text, expected: "host:port or off") { node.monitor.endpoint = v == "off" ? nil : v }
        if let v = try await read("monitor.top-namespaces", integer, expected: "a whole number") { node.monitor.limits.topNamespaces = v }
        if let v = try await read("monitor.max-invoker-series", integer, expected: "a whole number") { node.monitor.limits.maxInvokerSeries = v }
        if let v = try await read("monitor.stall-after", duration, expected: "a duration like 5s") { node.monitor.stallAfter = v }
        if let v = try await read("circuit-breaker.floor", duration, expected: "a duration like 60s") { node.core.completionTimeoutFloor = v }
        if let v = try await read("circuit-breaker.multiplier", integer, expected: "a whole number") { node.core.completionTimeoutMultiplier = v }
        if let v = try await read("circuit-breaker.slack", duration, expected: "a duration like 60s") { node.core.completionTimeoutSlack = v }
        if let v = try await read("health.window", integer, expected: "a whole number") { node.core.healthWindow = v }
        if let v = try await read("health.max-system-errors", integer, expected: "a whole number") { node.core.maxSystemErrors = v }
        if let v = try await read("health.max-timeouts", integer, expected: "a whole number") { node.core.maxTimeouts = v }
        if let v = try await read("health.cooldown", duration, expected: "a duration like 10s") { node.core.healthCooldown = v }
        if let v = try await read("answers.max-parked", integer, expected: "a whole number") { node.core.maxParkedAnswersPerController = v }
        if let v = try await read("answers.max-parked-age", duration, expected: "a duration like 300s") { node.core.maxParkedAnswerAge = v }
        if let v = try await read("routing.managed-fraction", number, expected: "a number") { node.core.eligibility.managedFraction = v }
        if let v = try await read("routing.blackbox-fraction", number, expected: "a number") { node.core.eligibility.blackboxFraction = v }
        if let strategy = try await reading.text("routing.strategy"), strategy != node.strategy {
            node.strategy = strategy
            node.strategyParameters = [:]
        }
        if let factory = strategies.factories[node.strategy] {
            // A plugin names its own parameters: every key of its section in the file. A built-in
            // strategy's are known by name, so the environment reaches all of them.
            let names = factory.validatesOwnParameters
                ? reading.names(under: ["routing", node.strategy])
                : factory.parameters.map(\.name)
            for name in names {
                if let value = try await reading.text(ConfigKey(["routing", node.strategy, name])) {
                    node.strategyParameters[name] = value
                }
            }
        }
        node.security = try await security(reading)
        return node
    }

    /// `security.*` (docs/SECURITY.md): CURVE on both endpoints with per-role key allow-lists.
    /// Key files are taken relative to the configuration file's folder (the working directory
    /// without a file).
    static func security(_ reading: ConfigurationReading) async throws(Failure) -> TransportSecurity {
        guard try await reading.flag("security.curve") ?? false else { return .none }
        guard let keyFile = try await reading.text("security.key-file") else {
            throw Failure(description: "configuration 'security.curve' is true but 'security.key-file' is missing: make a key pair with `sluice keygen --out broker` and name broker.key")
        }
        let pair: CurveKeyPair
        do {
            pair = try CurveKeyFile.readPair(reading.resolve(keyFile))
        } catch {
            throw Failure(description: "invalid configuration 'security.key-file': \(error)")
        }
        func keys(_ name: String) async throws(Failure) -> [String: Set<String>] {
            let key = ConfigKey(["security", name])
            guard let entries = try await reading.list(
                key, expected: "a list of ID=KEY entries (KEY: a Z85 public key or a .pub file) or NAME.pub files")
            else { return [:] }
            var result: [String: Set<String>] = [:]
            for entry in entries {
                do throws(CurveBindingError) {
                    let binding = try CurveBinding.parse(entry, folder: reading.folder)
                    result[binding.key, default: []].insert(binding.id)
                } catch {
                    throw Failure(description: "invalid configuration '\(key)': \(error)")
                }
            }
            return result
        }
        let controllerIDs = try await keys("controller-keys")
        let invokerIDs = try await keys("invoker-keys")
        return .curve(CurveSettings(serverSecretKey: pair.secretKey, controllerIDs: controllerIDs, invokerIDs: invokerIDs))
    }

    /// `routing.plugins`: shared libraries to load, relative paths taken from the file's folder.
    /// One path alone is accepted too.
    static func pluginPaths(_ reading: ConfigurationReading) async throws(Failure) -> [String] {
        let paths = try await reading.list("routing.plugins", expected: "a list of shared-library paths", acceptingOne: true) ?? []
        return paths.map { reading.resolve($0) }
    }

    /// Rejects keys of the file that are not in the schema, naming the key and the valid choices.
    /// Runs on the snapshot's tree: the file is not parsed a second time.
    static func checkKeys(_ sections: [String: ConfigFileSnapshot.Entry], strategies: StrategyRegistry) throws(Failure) {
        for (section, value) in sections.sorted(by: { $0.key < $1.key }) {
            guard let keys = schema.first(where: { $0.section == section })?.keys else {
                throw Failure(description: "unknown configuration section '\(section)'; known: \(schema.map(\.section).joined(separator: ", "))")
            }
            guard case .mapping(let mapping) = value else {
                throw Failure(description: "configuration section '\(section)' must be a mapping of keys")
            }
            for (key, inner) in mapping.sorted(by: { $0.key < $1.key }) {
                if section == "routing", let factory = strategies.factories[key] {
                    guard case .mapping(let parameters) = inner else {
                        throw Failure(description: "configuration 'routing.\(key)' must be a mapping of parameters")
                    }
                    if factory.validatesOwnParameters { continue }
                    let known = factory.parameters.map(\.name)
                    for name in parameters.keys.sorted() where !known.contains(name) {
                        let choices = known.isEmpty ? "'\(key)' takes no parameters" : "known: \(known.joined(separator: ", "))"
                        throw Failure(description: "unknown configuration key 'routing.\(key).\(name)'; \(choices)")
                    }
                    continue
                }
                if section == "overflow" && key == "disk" {
                    guard case .mapping(let disk) = inner else {
                        throw Failure(description: "configuration 'overflow.disk' must be a mapping of keys")
                    }
                    let known = ["path", "budget-bytes", "segment-bytes", "fsync"]
                    for name in disk.keys.sorted() where !known.contains(name) {
                        throw Failure(description: "unknown configuration key 'overflow.disk.\(name)'; known: \(known.joined(separator: ", "))")
                    }
                    continue
                }
                if section == "namespaces" && key == "limits" {
                    guard case .mapping = inner else {
                        throw Failure(description: "configuration 'namespaces.limits' must map namespaces to limits")
                    }
                    continue
                }
                guard keys.contains(key) else {
                    var choices = keys
                    if section == "routing" { choices += strategies.names }
                    throw Failure(description: "unknown configuration key '\(section).\(key)'; known: \(choices.joined(separator: ", "))")
                }
            }
        }
    }
}

extension ConfigFileSnapshot.Problem {
    /// The error for a file that cannot be used at all.
    func message(path: String) -> String {
        switch self {
        case .notText:
            "configuration file \(path) is not UTF-8 text"
        case .notYAML(let error):
            "configuration file \(path) is not valid YAML: \(error)"
        case .notAMapping:
            "configuration file \(path): the top level must be a mapping of sections (\(ConfigurationFile.schema.map(\.section).joined(separator: ", ")))"
        case .nestedList(let key):
            "invalid configuration '\(key)': a list may hold single values only, not lists or mappings"
        case .complexKey(let under):
            "configuration file \(path): a key \(under.isEmpty ? "at the top level" : "under '\(under)'") is not a plain name"
        }
    }
}
