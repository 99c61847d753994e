import SluicePluginAPI
import SluiceStrategies
import SluiceStrategyOpenWhiskSharding

/// What the simulator compares; the strategies themselves come from `BuiltInStrategies.registry`,
/// the one registry the broker uses too.
public enum SimulatorStrategies {
    /// Compared by default: every built-in that places on its own (`direct` only follows the
    /// controller's choice and rejects everything else), OpenWhisk's placement first.
    public static let compared = [
        "openwhisk-sharding", "least-loaded", "round-robin", "random", "power-of-two", "consistent-hash", "warm-affinity",
    ]

    /// OpenWhisk's home position of `action` in a share of `count` invokers.
    public static func openWhiskHome(namespace: String, action: String, count: Int) -> Int {
        OpenWhiskShardingStrategy.generateHash(namespace: namespace, action: action) % max(count, 1)
    }
}
