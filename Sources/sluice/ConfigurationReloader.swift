import Configuration
import Logging
import ServiceLifecycle
import SluiceBroker
import SluicePluginAPI

/// Applies changes of the routing strategy and of the placement trace in the configuration file
/// to the running broker.
///
/// swift-configuration's `ReloadingFileProvider` watches the file: every second, and at once on
/// SIGHUP. It runs as its own service in the same group, and publishes a new snapshot when the
/// file's modification time or resolved path changes. This service reads each one with the
/// environment, as at start-up, and swaps the strategy if routing changed. Other settings need a
/// restart: a change to them is logged and ignored. An invalid file is refused and the running
/// strategy stays.
struct ConfigurationReloader: Service {
    let path: String
    let provider: ReloadingFileProvider<ConfigFileSnapshot>
    /// The snapshot the broker started from: the provider publishes it first, and it is no change.
    let initialSnapshot: ConfigFileSnapshot?
    let environment: [String: String]
    let broker: Broker
    let strategies: StrategyRegistry
    let initial: BrokerNodeConfiguration
    /// `routing.plugins` at start-up: plugins are loaded once.
    let pluginPaths: [String]
    let flags: BrokerCommand
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await provider.watchSnapshot { (updates) async throws -> Void in
                var current = initial
                for await snapshot in updates {
                    if let file = snapshot as? ConfigFileSnapshot, file === initialSnapshot { continue }
                    current = await reload(snapshot, from: current)
                }
            }
        }
    }

    /// Reads a new snapshot and swaps the strategy if routing changed. Returns what is in effect.
    func reload(_ snapshot: any ConfigSnapshot, from current: BrokerNodeConfiguration) async -> BrokerNodeConfiguration {
        let next: BrokerNodeConfiguration
        let plugins: [String]?
        do {
            let reading = try ConfigurationReading(path: path, snapshot: snapshot, environment: environment)
            plugins = try? await ConfigurationFile.pluginPaths(reading)
            next = try await flags.nodeConfiguration(reading, strategies: strategies)
        } catch {
            logger.error("configuration reload refused; keeping the running strategy", metadata: [
                "file": "\(path)", "strategy": "\(current.strategy)", "error": "\(error)",
            ])
            return current
        }
        if let plugins, plugins != pluginPaths {
            logger.warning("configuration 'routing.plugins' changed; plugins are loaded at start-up only, restart to apply",
                           metadata: ["file": "\(path)"])
        }
        var routingOnly = current
        routingOnly.strategy = next.strategy
        routingOnly.strategyParameters = next.strategyParameters
        routingOnly.trace = next.trace
        if routingOnly != next {
            logger.warning("configuration changes outside routing and trace need a restart; ignored", metadata: ["file": "\(path)"])
        }
        var inEffect = current
        // The placement trace starts, moves or stops live (docs/TRACES.md).
        if next.trace != current.trace {
            do {
                try await broker.setTrace(next.trace.path == nil ? nil : next.trace)
                inEffect.trace = next.trace
                logger.notice("configuration reloaded; placement trace \(next.trace.path == nil ? "stopped" : "recording")",
                              metadata: ["path": "\(next.trace.path ?? current.trace.path ?? "")"])
            } catch {
                logger.error("configuration reload: placement trace not changed", metadata: ["error": "\(error)"])
            }
        }
        guard next.strategy != current.strategy || next.strategyParameters != current.strategyParameters else {
            logger.info("configuration reloaded; routing unchanged", metadata: ["strategy": "\(current.strategy)"])
            return inEffect
        }
        do {
            try await broker.replaceStrategy(next.strategy, parameters: next.strategyParameters)
        } catch {
            logger.error("configuration reload refused; keeping the running strategy", metadata: [
                "strategy": "\(current.strategy)", "error": "\(error)",
            ])
            return inEffect
        }
        logger.notice("configuration reloaded; switching routing strategy", metadata: [
            "from": "\(current.strategy)", "to": "\(next.strategy)",
        ])
        inEffect.strategy = next.strategy
        inEffect.strategyParameters = next.strategyParameters
        return inEffect
    }
}
