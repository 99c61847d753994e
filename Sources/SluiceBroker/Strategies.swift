import SluicePluginAPI
import SluiceStrategyLeastLoaded

/// The built-in routing strategies, by configuration name. A registry value, not global state.
public enum Strategies {
    public static let names = [LeastLoadedStrategy.name]

    /// A new instance of the strategy called `name`, or nil if there is none.
    public static func make(_ name: String) -> (any RoutingStrategy)? {
        switch name {
        case LeastLoadedStrategy.name: LeastLoadedStrategy()
        default: nil
        }
    }
}
