import SluicePluginAPI
import SluiceStrategyConsistentHash
import SluiceStrategyDirect
import SluiceStrategyLeastLoaded
import SluiceStrategyOpenWhiskSharding
import SluiceStrategyPowerOfTwo
import SluiceStrategyRandom
import SluiceStrategyRoundRobin
import SluiceStrategyWarmAffinity

/// The built-in routing strategies, as a registry value (no global mutable registry): the
/// executable starts from `builtIn` and adds loaded plugins.
public enum Strategies {
    public static let builtIn = StrategyRegistry([
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
