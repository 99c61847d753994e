import SluicePluginAPI
import SluiceStrategies

/// The built-in routing strategies, as a registry value (no global mutable registry): the
/// executable starts from `builtIn` and adds loaded plugins. The list is `BuiltInStrategies`.
public enum Strategies {
    public static let builtIn = BuiltInStrategies.registry
}
