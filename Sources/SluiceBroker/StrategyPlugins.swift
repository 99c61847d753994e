import CSluicePlugin
import SluicePluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// A strategy plugin that could not be loaded: the path and what went wrong.
public struct PluginLoadError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var problem: String
    public var description: String { "cannot load strategy plugin \(path): \(problem)" }
}

/// Loads routing strategies built as shared libraries (docs/ROUTING.md, "As an external plugin (a shared library)").
public enum StrategyPlugins {
    /// Opens the library at `path`, checks its entry point and API version, and returns a
    /// factory for its strategy. The library stays loaded for the life of the process.
    public static func load(_ path: String) throws(PluginLoadError) -> StrategyFactory {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw PluginLoadError(path: path, problem: dlerror().map { String(cString: $0) } ?? "dlopen failed")
        }
        guard let symbol = dlsym(handle, SLUICE_PLUGIN_ENTRY_POINT) else {
            dlclose(handle)
            throw PluginLoadError(path: path, problem: "it does not export \(SLUICE_PLUGIN_ENTRY_POINT); is it a Sluice strategy plugin?")
        }
        let entry = unsafeBitCast(symbol, to: sluice_strategy_plugin_entry_t.self)
        guard let table = entry() else {
            throw PluginLoadError(path: path, problem: "\(SLUICE_PLUGIN_ENTRY_POINT)() returned NULL")
        }
        guard table.pointee.api_version == SLUICE_PLUGIN_API_VERSION else {
            throw PluginLoadError(path: path, problem: "it was built for plugin API version \(table.pointee.api_version); this broker speaks version \(SLUICE_PLUGIN_API_VERSION)")
        }
        guard let rawName = table.pointee.name, table.pointee.create != nil, table.pointee.place != nil, table.pointee.destroy != nil else {
            throw PluginLoadError(path: path, problem: "its plugin table lacks a name, create, place or destroy")
        }
        let name = String(cString: rawName)
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else {
            throw PluginLoadError(path: path, problem: "strategy name '\(name)' must match [a-z0-9-]+")
        }
        let summary = table.pointee.summary.map { String(cString: $0) } ?? "external plugin"
        let plugin = PluginTable(table: table, path: path)
        var factory = StrategyFactory(name: name, summary: "\(summary) (plugin \(path))") { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
            try ExternalStrategy(plugin: plugin, name: name, parameters: parameters)
        }
        factory.validatesOwnParameters = true
        return factory
    }
}

/// The plugin's function table; immutable once loaded, so it may be shared.
final class PluginTable: @unchecked Sendable {
    let table: UnsafePointer<sluice_strategy_plugin_t>
    let path: String

    init(table: UnsafePointer<sluice_strategy_plugin_t>, path: String) {
        self.table = table
        self.path = path
    }
}

/// A `RoutingStrategy` backed by a plugin instance. Per decision it passes the registered
/// invokers with eligibility computed by the broker, so a plugin cannot get the shared rule
/// wrong; that marshalling is O(n), the price of a C boundary.
struct ExternalStrategy: RoutingStrategy {
    static let name = "external"
    let strategyName: String
    private let instance: Instance

    final class Instance {
        let plugin: PluginTable
        let state: UnsafeMutableRawPointer
        /// C copies of invoker ids, made once per id.
        var ids: [String: UnsafeMutablePointer<CChar>] = [:]
        var buffer: [sluice_invoker_t] = []

        init(plugin: PluginTable, state: UnsafeMutableRawPointer) {
            self.plugin = plugin
            self.state = state
        }

        deinit {
            plugin.table.pointee.destroy(state)
            for pointer in ids.values { free(pointer) }
        }

        func cString(_ id: String) -> UnsafeMutablePointer<CChar> {
            if let existing = ids[id] { return existing }
            let copy = strdup(id)!
            ids[id] = copy
            return copy
        }
    }

    init(plugin: PluginTable, name: String, parameters: StrategyParameters) throws(ParameterError) {
        strategyName = name
        let lines = parameters.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        var error = [CChar](repeating: 0, count: 512)
        let capacity = Int32(error.count)
        let state = lines.withCString { text in
            error.withUnsafeMutableBufferPointer { plugin.table.pointee.create(text, $0.baseAddress, capacity) }
        }
        guard let state else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ParameterError(key: "routing.\(name)", problem: message.isEmpty ? "the plugin refused its parameters" : message)
        }
        instance = Instance(plugin: plugin, state: state)
    }

    mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        let header = request.header
        var invokers = instance.buffer
        invokers.removeAll(keepingCapacity: true)
        for case let invoker? in cluster.invokers {
            let warm = invoker.warm[header.action]
            invokers.append(sluice_invoker_t(
                id: UnsafePointer(instance.cString(invoker.id)), position: Int32(invoker.position),
                memory_mb: invoker.memoryMB, slots: invoker.slots, free_memory_mb: invoker.freeMemoryMB,
                free_slots: invoker.freeSlots, in_flight: Int32(clamping: invoker.inFlight),
                health: Self.code(invoker.health),
                eligible: cluster.isEligible(invoker.position, for: request) ? 1 : 0,
                allowed: cluster.isAllowed(invoker, for: request) ? 1 : 0,
                warm_idle: Int32(warm?.idle ?? 0), warm_total: Int32(warm?.total ?? 0)))
        }
        var decision = sluice_decision_t()
        decision.kind = Int32(SLUICE_DECISION_WAIT)
        let plugin = instance.plugin.table.pointee
        let state = instance.state
        header.activationID.withCString { activationID in
            header.namespace.withCString { namespace in
                header.action.withCString { action in
                    var cRequest = sluice_request_t(
                        activation_id: activationID, namespace_name: namespace, action: action,
                        memory_mb: header.memoryMB, time_limit_ms: header.timeLimitMilliseconds,
                        blocking: header.blocking ? 1 : 0, blackbox: header.blackbox ? 1 : 0)
                    invokers.withUnsafeBufferPointer { list in
                        plugin.place(state, &cRequest, list.baseAddress, Int32(list.count), &decision)
                    }
                }
            }
        }
        instance.buffer = invokers
        func invokerID(_ position: Int32) -> String {
            let index = Int(position)
            guard index >= 0, index < cluster.invokers.count, let invoker = cluster.invokers[index] else {
                // Not a registered position: the broker reports the broken contract.
                return "<no invoker at position \(position)>"
            }
            return invoker.id
        }
        switch Int(decision.kind) {
        case Int(SLUICE_DECISION_PLACE): return .place(invokerID: invokerID(decision.position))
        case Int(SLUICE_DECISION_FORCE): return .force(invokerID: invokerID(decision.position))
        case Int(SLUICE_DECISION_REJECT):
            let reason = withUnsafeBytes(of: &decision.reason) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            return .reject(reason: reason.isEmpty ? "rejected by strategy \(strategyName)" : reason)
        default: return .wait
        }
    }

    static func code(_ health: InvokerHealth) -> Int32 {
        switch health {
        case .healthy: Int32(SLUICE_HEALTH_HEALTHY)
        case .unhealthy: Int32(SLUICE_HEALTH_UNHEALTHY)
        case .unresponsive: Int32(SLUICE_HEALTH_UNRESPONSIVE)
        case .probing: Int32(SLUICE_HEALTH_PROBING)
        }
    }
}
