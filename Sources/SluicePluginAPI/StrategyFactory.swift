/// Parameters of one strategy, as given under `routing.<strategy>` in the configuration file.
///
/// Values arrive as text; the typed accessors parse them and throw a `ParameterError` that
/// names the full key (`routing.power-of-two.choices`) and says what was expected. A factory
/// should call `rejectUnknown` so typos stop start-up instead of being ignored.
public struct StrategyParameters: Sendable, Equatable {
    public var strategy: String
    public var values: [String: String]

    public init(strategy: String, values: [String: String] = [:]) {
        self.strategy = strategy
        self.values = values
    }

    public func key(_ name: String) -> String { "routing.\(strategy).\(name)" }

    public func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ParameterError) -> Int {
        guard let text = values[name] else { return value }
        guard let parsed = Int(text), range.contains(parsed) else {
            throw ParameterError(key: key(name), problem: "'\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    public func double(_ name: String, default value: Double, range: ClosedRange<Double>) throws(ParameterError) -> Double {
        guard let text = values[name] else { return value }
        guard let parsed = Double(text), range.contains(parsed) else {
            throw ParameterError(key: key(name), problem: "'\(text)' is not a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    public func bool(_ name: String, default value: Bool) throws(ParameterError) -> Bool {
        guard let text = values[name] else { return value }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ParameterError(key: key(name), problem: "'\(text)' is not true or false")
        }
    }

    /// Throws naming the first key that is not in `known`.
    public func rejectUnknown(_ known: [String]) throws(ParameterError) {
        for name in values.keys.sorted() where !known.contains(name) {
            let choices = known.isEmpty ? "this strategy takes no parameters" : "known: \(known.joined(separator: ", "))"
            throw ParameterError(key: key(name), problem: "unknown parameter; \(choices)")
        }
    }
}

/// A strategy parameter that cannot work, named by its full configuration key.
public struct ParameterError: Error, Equatable, CustomStringConvertible, Sendable {
    public var key: String
    public var problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "invalid configuration '\(key)': \(problem)" }
}

/// Makes instances of one strategy from its parameters.
public struct StrategyFactory: Sendable {
    public var name: String
    /// One line on what it does, for `--help` and errors.
    public var summary: String
    /// Parameter names with a short description each, for documentation and errors.
    public var parameters: [(name: String, description: String)]
    public var make: @Sendable (StrategyParameters) throws(ParameterError) -> any RoutingStrategy
    /// The strategy checks its own parameter names (external plugins, whose names the broker
    /// cannot know): every key under `routing.<name>` is passed to `make`.
    public var validatesOwnParameters = false

    public init(name: String, summary: String, parameters: [(name: String, description: String)] = [],
                make: @escaping @Sendable (StrategyParameters) throws(ParameterError) -> any RoutingStrategy) {
        self.name = name
        self.summary = summary
        self.parameters = parameters
        self.make = make
    }
}

/// The strategies a broker can choose from, by name. A value, not global state: the
/// executable builds one with the built-ins and any loaded plugins and hands it over.
public struct StrategyRegistry: Sendable {
    public private(set) var factories: [String: StrategyFactory] = [:]

    public init(_ factories: [StrategyFactory] = []) {
        for factory in factories { register(factory) }
    }

    public mutating func register(_ factory: StrategyFactory) {
        factories[factory.name] = factory
    }

    public var names: [String] { factories.keys.sorted() }

    /// A new strategy called `name` with `parameters`; throws naming the key and the choices.
    public func make(_ name: String, parameters: [String: String] = [:]) throws(ParameterError) -> any RoutingStrategy {
        guard let factory = factories[name] else {
            throw ParameterError(key: "routing.strategy", problem: "unknown strategy '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return try factory.make(StrategyParameters(strategy: name, values: parameters))
    }
}
