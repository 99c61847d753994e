import Configuration
import Foundation
import SluiceBroker
import SluiceCore
import SluicePluginAPI
import SystemPackage
import Yams
import ZeroMQ

/// The broker's configuration file (YAML), read through swift-configuration with environment
/// overrides (`SLUICE_ROUTING_STRATEGY` overrides `routing.strategy`, and so on).
///
/// Every key is checked against the schema below, so a typo stops start-up with an error that
/// names the key and lists the valid ones. See docs/CONFIGURATION.md.
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
    ]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Applies the file at `path` (if any) and the environment to `node`; returns the result.
    static func apply(path: String?, environment: [String: String], strategies: StrategyRegistry,
                      to base: BrokerNodeConfiguration) async throws(Failure) -> BrokerNodeConfiguration {
        if let path { try checkKeys(path: path, strategies: strategies) }
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "sluice"),
        ]
        if let path {
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
            } catch {
                throw Failure(description: "cannot read configuration file \(path): \(error)")
            }
        }
        let reader = ConfigReader(providers: providers)
        var node = base
        func text(_ key: String) -> String? { reader.string(forKey: ConfigKey(key)) }

        func set<T>(_ key: String, _ parse: (String) -> T?, expected: String, _ apply: (T) -> Void) throws(Failure) {
            guard let raw = text(key) else { return }
            guard let value = parse(raw) else {
                throw Failure(description: "invalid configuration '\(key)': '\(raw)' is not \(expected)")
            }
            apply(value)
        }
        let duration: (String) -> Duration? = { DurationArgument(argument: $0)?.duration }
        let integer: (String) -> Int? = { Int($0) }
        let number: (String) -> Double? = { Double($0) }

        try set("broker.id", { $0 }, expected: "an id") { node.core.brokerID = $0 }
        try set("broker.controller-endpoint", { $0 }, expected: "an endpoint") { node.controllerEndpoint = $0 }
        try set("broker.invoker-endpoint", { $0 }, expected: "an endpoint") { node.invokerEndpoint = $0 }
        try set("broker.heartbeat-interval", duration, expected: "a duration like 1s") { node.core.heartbeatInterval = $0 }
        try set("broker.liveness", integer, expected: "a whole number") { node.core.liveness = $0 }
        try set("broker.max-message-bytes", integer, expected: "a whole number") { node.core.maxMessageBytes = $0 }
        try set("broker.shutdown-grace", duration, expected: "a duration like 10s") { node.shutdownGrace = $0 }
        try set("broker.stats-interval", duration, expected: "a duration like 60s") { node.statsInterval = $0 }
        try set("broker.send-high-water-mark", { Int32($0) }, expected: "a whole number") { node.sendHighWaterMark = $0 }
        try set("waiting.max", integer, expected: "a whole number") { node.core.maxWaiting = $0 }
        try set("waiting.max-bytes", integer, expected: "a whole number") { node.core.maxWaitingBytes = $0 }
        try set("waiting.max-age", duration, expected: "a duration like 60s") { node.core.maxWaitingAge = $0 }
        try set("waiting.max-per-action", integer, expected: "a whole number") { node.core.maxWaitingPerAction = $0 }
        try set("waiting.max-per-namespace", integer, expected: "a whole number") { node.core.maxWaitingPerNamespace = $0 }
        try set("namespaces.concurrency", integer, expected: "a whole number") { node.core.namespaceConcurrencyLimit = $0 }
        if let path {
            for (namespace, value) in section(path: path, ["namespaces", "limits"]) {
                guard let limit = Int(value) else {
                    throw Failure(description: "invalid configuration 'namespaces.limits.\(namespace)': '\(value)' is not a whole number")
                }
                node.core.namespaceConcurrencyLimits[namespace] = limit
            }
        }
        try set("overflow.store", { $0 }, expected: "memory or disk") { node.overflow.store = $0 }
        try set("overflow.disk.path", { $0 }, expected: "a directory") { node.overflow.path = $0 }
        try set("overflow.disk.budget-bytes", integer, expected: "a whole number") { node.overflow.budgetBytes = $0 }
        try set("overflow.disk.segment-bytes", integer, expected: "a whole number") { node.overflow.segmentBytes = $0 }
        try set("overflow.disk.fsync", { $0 }, expected: "every-batch, never or an interval like 50ms") { node.overflow.fsync = $0 }
        try set("circuit-breaker.floor", duration, expected: "a duration like 60s") { node.core.completionTimeoutFloor = $0 }
        try set("circuit-breaker.multiplier", integer, expected: "a whole number") { node.core.completionTimeoutMultiplier = $0 }
        try set("circuit-breaker.slack", duration, expected: "a duration like 60s") { node.core.completionTimeoutSlack = $0 }
        try set("health.window", integer, expected: "a whole number") { node.core.healthWindow = $0 }
        try set("health.max-system-errors", integer, expected: "a whole number") { node.core.maxSystemErrors = $0 }
        try set("health.max-timeouts", integer, expected: "a whole number") { node.core.maxTimeouts = $0 }
        try set("health.cooldown", duration, expected: "a duration like 10s") { node.core.healthCooldown = $0 }
        try set("answers.max-parked", integer, expected: "a whole number") { node.core.maxParkedAnswersPerController = $0 }
        try set("answers.max-parked-age", duration, expected: "a duration like 300s") { node.core.maxParkedAnswerAge = $0 }
        try set("routing.managed-fraction", number, expected: "a number") { node.core.eligibility.managedFraction = $0 }
        try set("routing.blackbox-fraction", number, expected: "a number") { node.core.eligibility.blackboxFraction = $0 }
        if let strategy = text("routing.strategy"), strategy != node.strategy {
            node.strategy = strategy
            node.strategyParameters = [:]
        }
        if let factory = strategies.factories[node.strategy], factory.validatesOwnParameters, let path {
            // A plugin names its own parameters: take every key of its section from the file.
            for (key, value) in strategySection(path: path, strategy: node.strategy) { node.strategyParameters[key] = value }
        } else if let factory = strategies.factories[node.strategy] {
            for parameter in factory.parameters {
                if let value = text("routing.\(node.strategy).\(parameter.name)") {
                    node.strategyParameters[parameter.name] = value
                }
            }
        }
        if let path { node.security = try security(path: path) }
        return node
    }

    /// The keys and values under `routing.<strategy>` in the file, as text.
    static func strategySection(path: String, strategy: String) -> [String: String] {
        section(path: path, ["routing", strategy])
    }

    /// The keys and values of the mapping at `keys` in the file, as text.
    static func section(path: String, _ keys: [String]) -> [String: String] {
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8),
              var node = (try? Yams.load(yaml: contents)) as? [String: Any] else { return [:] }
        for key in keys {
            guard let next = node[key] as? [String: Any] else { return [:] }
            node = next
        }
        return node.mapValues { "\($0)" }
    }

    /// `security.*` (docs/SECURITY.md): CURVE on both endpoints with per-role key allow-lists.
    /// Key files are taken relative to the configuration file's folder.
    static func security(path: String) throws(Failure) -> TransportSecurity {
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8),
              let root = (try? Yams.load(yaml: contents)) as? [String: Any],
              let section = root["security"] as? [String: Any] else { return .none }
        let enabled: Bool
        switch section["curve"] {
        case nil: enabled = false
        case let flag as Bool: enabled = flag
        case let other?: throw Failure(description: "invalid configuration 'security.curve': '\(other)' is not true or false")
        }
        guard enabled else { return .none }
        guard let keyFile = section["key-file"] as? String else {
            throw Failure(description: "configuration 'security.curve' is true but 'security.key-file' is missing: make a key pair with `sluice keygen --out broker` and name broker.key")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        let resolved = keyFile.hasPrefix("/") ? keyFile : folder.appendingPathComponent(keyFile).path
        let pair: CurveKeyPair
        do {
            pair = try CurveKeyFile.readPair(resolved)
        } catch {
            throw Failure(description: "invalid configuration 'security.key-file': \(error)")
        }
        func keys(_ name: String) throws(Failure) -> [String: Set<String>] {
            guard let value = section[name] else { return [:] }
            guard let list = value as? [Any] else {
                throw Failure(description: "invalid configuration 'security.\(name)': expected a list of ID=KEY entries (KEY: a Z85 public key or a .pub file) or NAME.pub files")
            }
            var result: [String: Set<String>] = [:]
            for item in list.map({ "\($0)" }) {
                do throws(CurveBindingError) {
                    let binding = try CurveBinding.parse(item, folder: folder.path)
                    result[binding.key, default: []].insert(binding.id)
                } catch {
                    throw Failure(description: "invalid configuration 'security.\(name)': \(error)")
                }
            }
            return result
        }
        return .curve(CurveSettings(serverSecretKey: pair.secretKey, controllerIDs: try keys("controller-keys"), invokerIDs: try keys("invoker-keys")))
    }

    /// `routing.plugins`: shared libraries to load, relative paths taken from the file's folder.
    static func pluginPaths(path: String) throws(Failure) -> [String] {
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8),
              let root = (try? Yams.load(yaml: contents)) as? [String: Any],
              let routing = root["routing"] as? [String: Any], let value = routing["plugins"] else { return [] }
        let list: [String]
        if let items = value as? [Any] {
            list = items.map { "\($0)" }
        } else if let single = value as? String {
            list = [single]
        } else {
            throw Failure(description: "invalid configuration 'routing.plugins': expected a list of shared-library paths")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        return list.map { $0.hasPrefix("/") ? $0 : folder.appendingPathComponent($0).path }
    }

    /// Rejects keys that are not in the schema, naming the key and the valid choices.
    static func checkKeys(path: String, strategies: StrategyRegistry) throws(Failure) {
        let contents: String
        do {
            contents = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(description: "cannot read configuration file \(path): \(error.localizedDescription)")
        }
        let document: Any?
        do {
            document = try Yams.load(yaml: contents)
        } catch {
            throw Failure(description: "configuration file \(path) is not valid YAML: \(error)")
        }
        guard let document else { return }
        guard let root = document as? [String: Any] else {
            throw Failure(description: "configuration file \(path): the top level must be a mapping of sections (\(schema.map(\.section).joined(separator: ", ")))")
        }
        for (section, value) in root.sorted(by: { $0.key < $1.key }) {
            guard let keys = schema.first(where: { $0.section == section })?.keys else {
                throw Failure(description: "unknown configuration section '\(section)'; known: \(schema.map(\.section).joined(separator: ", "))")
            }
            guard let mapping = value as? [String: Any] else {
                throw Failure(description: "configuration section '\(section)' must be a mapping of keys")
            }
            for (key, inner) in mapping.sorted(by: { $0.key < $1.key }) {
                if section == "routing", let factory = strategies.factories[key] {
                    guard let parameters = inner as? [String: Any] else {
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
                    guard let disk = inner as? [String: Any] else {
                        throw Failure(description: "configuration 'overflow.disk' must be a mapping of keys")
                    }
                    let known = ["path", "budget-bytes", "segment-bytes", "fsync"]
                    for name in disk.keys.sorted() where !known.contains(name) {
                        throw Failure(description: "unknown configuration key 'overflow.disk.\(name)'; known: \(known.joined(separator: ", "))")
                    }
                    continue
                }
                if section == "namespaces" && key == "limits" {
                    guard inner is [String: Any] else {
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
