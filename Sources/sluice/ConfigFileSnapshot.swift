import Configuration
import Foundation
import Yams

/// The broker's configuration file as swift-configuration sees it: a `FileConfigSnapshot`, so
/// that `ReloadingFileProvider` reads (and re-reads) the file, parsed once with Yams.
///
/// It stands in for the library's `YAMLSnapshot`, which keeps only the leaves and cannot list
/// keys. This one keeps the file's shape: for the schema check (an unknown key is refused), and
/// for the sections whose keys are names (`namespaces.limits.<namespace>`, a plugin's
/// `routing.<strategy>.<parameter>`). Values are still read through a `ConfigReader`: the
/// snapshot is also a (fixed) `ConfigProvider`, read with the same rules `YAMLSnapshot` applies.
///
/// Parsing never throws. A file that is not valid YAML, or not a mapping, becomes a snapshot that
/// carries the problem. `ReloadingFileProvider` drops a reload whose snapshot throws (it logs at
/// debug and keeps the old one), so a broken edit would go unreported; this way the reloader
/// receives it and refuses it with an error log.
final class ConfigFileSnapshot: Sendable {
    struct ParsingOptions: FileParsingOptions {
        static var `default`: Self { .init() }
    }

    /// A single value of the file, with the readings Yams gives it.
    struct Scalar: Sendable {
        var text: String
        var bool: Bool?
        var int: Int?
        var double: Double?
    }

    /// What a key holds.
    indirect enum Entry: Sendable {
        case scalar(Scalar)
        case list([Scalar])
        case mapping([String: Entry])
    }

    /// Why the file cannot be used at all.
    enum Problem: Error {
        case notText
        case notYAML(String)
        case notAMapping
        case nestedList(key: String)
        case complexKey(under: String)
    }

    /// A value that exists but is not of the type asked for. `ConfigReader.fetch...` rethrows it.
    struct Mismatch: Error, CustomStringConvertible {
        var asked: ConfigType
        var found: String

        var description: String { "expected \(Self.name(asked)), found \(found)" }

        static func name(_ type: ConfigType) -> String {
            switch type {
            case .string: "one value"
            case .int: "a whole number"
            case .double: "a number"
            case .bool: "true or false"
            case .bytes: "base64 bytes"
            case .stringArray: "a list"
            case .intArray: "a list of whole numbers"
            case .doubleArray: "a list of numbers"
            case .boolArray: "a list of true or false"
            case .byteChunkArray: "a list of base64 bytes"
            }
        }
    }

    let providerName: String
    /// The top-level sections, or why there are none.
    let root: Result<[String: Entry], Problem>

    init(data: RawSpan, providerName: String, parsingOptions: ParsingOptions) {
        self.providerName = providerName
        guard let text = data.withUnsafeBytes({ String(validating: $0, as: UTF8.self) }) else {
            root = .failure(.notText)
            return
        }
        root = Self.parse(text)
    }

    /// The sections, if the file could be read as a mapping.
    var sections: [String: Entry]? { try? root.get() }

    /// What `path` holds; nil if the file has nothing there.
    func entry(at path: [String]) -> Entry? {
        guard var mapping = sections, let last = path.last else { return nil }
        for component in path.dropLast() {
            guard case .mapping(let inner)? = mapping[component] else { return nil }
            mapping = inner
        }
        return mapping[last]
    }

    /// The names in the mapping at `path`, sorted; none if there is no mapping there.
    func names(under path: [String]) -> [String] {
        guard case .mapping(let mapping)? = entry(at: path) else { return [] }
        return mapping.keys.sorted()
    }

    // MARK: Parsing

    static func parse(_ text: String) -> Result<[String: Entry], Problem> {
        let document: Yams.Node?
        do {
            document = try Yams.compose(yaml: text)
        } catch {
            return .failure(.notYAML("\(error)"))
        }
        guard let mapping = document?.mapping else { return .failure(.notAMapping) }
        do throws(Problem) {
            return .success(try parseMapping(mapping, at: []))
        } catch {
            return .failure(error)
        }
    }

    private static func parseMapping(_ mapping: Yams.Node.Mapping, at path: [String]) throws(Problem) -> [String: Entry] {
        var result: [String: Entry] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                throw Problem.complexKey(under: path.joined(separator: "."))
            }
            result[name] = try parseEntry(value, at: path + [name])
        }
        return result
    }

    private static func parseEntry(_ node: Yams.Node, at path: [String]) throws(Problem) -> Entry {
        if let mapping = node.mapping {
            return .mapping(try parseMapping(mapping, at: path))
        }
        if let sequence = node.sequence {
            var items: [Scalar] = []
            for item in sequence {
                guard let scalar = item.scalar else { throw Problem.nestedList(key: path.joined(separator: ".")) }
                items.append(Scalar(scalar))
            }
            return .list(items)
        }
        if let scalar = node.scalar {
            return .scalar(Scalar(scalar))
        }
        // An alias: the composer resolves them, so this is not expected.
        throw Problem.nestedList(key: path.joined(separator: "."))
    }

    // MARK: Typed readings (YAMLSnapshot's rules; a mapping is a mismatch, not "absent")

    static func content(_ entry: Entry, as type: ConfigType) throws(Mismatch) -> ConfigContent {
        switch entry {
        case .scalar(let scalar):
            switch type {
            case .string: return .string(scalar.text)
            case .int: if let value = scalar.int { return .int(value) }
            case .double: if let value = scalar.double { return .double(value) }
            case .bool: if let value = scalar.bool { return .bool(value) }
            case .bytes: if let data = Data(base64Encoded: scalar.text) { return .bytes(Array(data)) }
            default: break
            }
            throw Mismatch(asked: type, found: "'\(scalar.text)'")
        case .list(let items):
            switch type {
            case .stringArray:
                return .stringArray(items.map(\.text))
            case .intArray:
                let values = items.compactMap(\.int)
                if values.count == items.count { return .intArray(values) }
            case .doubleArray:
                let values = items.compactMap(\.double)
                if values.count == items.count { return .doubleArray(values) }
            case .boolArray:
                let values = items.compactMap(\.bool)
                if values.count == items.count { return .boolArray(values) }
            case .byteChunkArray:
                let values = items.compactMap { Data(base64Encoded: $0.text).map { Array($0) } }
                if values.count == items.count { return .byteChunkArray(values) }
            default: break
            }
            throw Mismatch(asked: type, found: "a list of \(items.count)")
        case .mapping:
            throw Mismatch(asked: type, found: "a mapping")
        }
    }
}

extension ConfigFileSnapshot.Scalar {
    init(_ scalar: Yams.Node.Scalar) {
        self.init(text: scalar.string, bool: Bool.construct(from: scalar), int: Int.construct(from: scalar),
                  double: Double.construct(from: scalar))
    }
}

extension ConfigFileSnapshot: FileConfigSnapshot {
    func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        let encodedKey = key.components.joined(separator: ".")
        if case .failure(let problem) = root { throw problem }
        guard let entry = entry(at: key.components) else {
            return LookupResult(encodedKey: encodedKey, value: nil)
        }
        return LookupResult(encodedKey: encodedKey, value: ConfigValue(try Self.content(entry, as: type), isSecret: false))
    }

    var description: String {
        switch root {
        case .success(let sections): "\(providerName)[\(sections.count) sections]"
        case .failure(let problem): "\(providerName)[unusable: \(problem)]"
        }
    }

    var debugDescription: String {
        switch root {
        case .success(let sections): "\(providerName)[sections: \(sections.keys.sorted().joined(separator: ", "))]"
        case .failure(let problem): "\(providerName)[unusable: \(problem)]"
        }
    }
}

/// A snapshot is also a provider that never changes: one reading puts the environment and this
/// very snapshot behind one `ConfigReader` (the reloader reads each new snapshot this way, so a
/// reload cannot land in the middle of a reading).
extension ConfigFileSnapshot: ConfigProvider {
    func fetchValue(forKey key: AbsoluteConfigKey, type: ConfigType) async throws -> LookupResult {
        try value(forKey: key, type: type)
    }

    func watchValue<Return: ~Copyable>(
        forKey key: AbsoluteConfigKey,
        type: ConfigType,
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<Result<LookupResult, any Error>, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchValueFromValue(forKey: key, type: type, updatesHandler: updatesHandler)
    }

    func snapshot() -> any ConfigSnapshot { self }

    func watchSnapshot<Return: ~Copyable>(
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<any ConfigSnapshot, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchSnapshotFromSnapshot(updatesHandler: updatesHandler)
    }
}
