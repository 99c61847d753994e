import Foundation
import Logging
import ServiceLifecycle
import SluiceBroker
import SluicePluginAPI
import UnixSignals

/// Watches the configuration file (every second, and on SIGHUP) and applies changes of the
/// routing strategy to the running broker. Other settings need a restart: a change to them is
/// logged and ignored. An invalid file is refused and the running strategy stays.
struct ConfigurationReloader: Service {
    let path: String
    let broker: Broker
    let strategies: StrategyRegistry
    let initial: BrokerNodeConfiguration
    let flags: BrokerCommand
    let logger: Logger

    enum Trigger: Sendable { case signal, fileChanged }

    func run() async throws {
        let (triggers, continuation) = AsyncStream.makeStream(of: Trigger.self)
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in signals { continuation.yield(.signal) }
                }
                group.addTask {
                    var last = modificationDate()
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        let now = modificationDate()
                        if now != last {
                            last = now
                            continuation.yield(.fileChanged)
                        }
                    }
                }
                group.addTask {
                    var current = initial
                    for await trigger in triggers {
                        current = await reload(from: current, trigger: trigger)
                    }
                }
                await group.waitForAll()
            }
        }
        continuation.finish()
    }

    func modificationDate() -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// Reads the file again and swaps the strategy if routing changed. Returns what is in effect.
    func reload(from current: BrokerNodeConfiguration, trigger: Trigger) async -> BrokerNodeConfiguration {
        let reason = trigger == .signal ? "SIGHUP" : "file changed"
        let next: BrokerNodeConfiguration
        do {
            next = try await flags.nodeConfiguration(file: path, strategies: strategies)
        } catch {
            logger.error("configuration reload refused; keeping the running strategy", metadata: [
                "file": "\(path)", "trigger": "\(reason)", "strategy": "\(current.strategy)", "error": "\(error)",
            ])
            return current
        }
        var routingOnly = current
        routingOnly.strategy = next.strategy
        routingOnly.strategyParameters = next.strategyParameters
        if routingOnly != next {
            logger.warning("configuration changes outside routing need a restart; ignored", metadata: ["file": "\(path)"])
        }
        guard next.strategy != current.strategy || next.strategyParameters != current.strategyParameters else {
            logger.info("configuration reloaded; routing unchanged", metadata: ["trigger": "\(reason)", "strategy": "\(current.strategy)"])
            return current
        }
        do {
            try await broker.replaceStrategy(next.strategy, parameters: next.strategyParameters)
        } catch {
            logger.error("configuration reload refused; keeping the running strategy", metadata: [
                "strategy": "\(current.strategy)", "error": "\(error)",
            ])
            return current
        }
        logger.notice("configuration reloaded; switching routing strategy", metadata: [
            "trigger": "\(reason)", "from": "\(current.strategy)", "to": "\(next.strategy)",
        ])
        return routingOnly
    }
}
