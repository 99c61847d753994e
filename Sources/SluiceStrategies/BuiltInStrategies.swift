import SluicePluginAPI
import SluiceStrategyConsistentHash
import SluiceStrategyDirect
import SluiceStrategyLeastLoaded
import SluiceStrategyOpenWhiskSharding
import SluiceStrategyPowerOfTwo
import SluiceStrategyRandom
import SluiceStrategyRoundRobin
import SluiceStrategyWarmAffinity

/// The built-in routing strategies, listed once and named once: the broker, the `sluice`
/// tools and the simulator all start from this registry, so a new strategy is registered here
/// and nowhere else.
public enum BuiltInStrategies {
    public static let registry = StrategyRegistry([
        LeastLoadedStrategy.factory,
        RoundRobinStrategy.factory,
        RandomStrategy.factory,
        PowerOfTwoStrategy.factory,
        DirectStrategy.factory,
        OpenWhiskShardingStrategy.factory,
        ConsistentHashStrategy.factory,
        WarmAffinityStrategy.factory,
    ])
}
