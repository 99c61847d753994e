import SluicePluginAPI
import SluiceStrategyLeastLoaded

/// The built-in routing strategies, as a registry value (no global mutable registry): the
/// executable starts from `builtIn` and adds loaded plugins.
public enum Strategies {
    public static let builtIn = StrategyRegistry([
        LeastLoadedStrategy.factory,
    ])
}
