import Configuration
import Foundation

/// One reading of the broker's configuration: the `SLUICE_*` environment over one snapshot of the
/// configuration file, through one `ConfigReader`. Every key is read through it.
///
/// Reads use the reader's `fetch...` methods. They return nil for an absent key and throw for a
/// value that a provider cannot read as asked (a list where one value belongs, `maybe` for a
/// flag). The plain `string(forKey:)`, `bool(forKey:)`, ... return nil for both (the error goes
/// only to an access reporter), and `required...` throw for both, with an error type the library
/// does not export.
struct ConfigurationReading: Sendable {
    typealias Failure = ConfigurationFile.Failure

    /// The configuration file; nil without `--config`.
    let path: String?
    let file: ConfigFileSnapshot?
    /// Relative paths in values (key files, plugins) are taken from here: the file's folder, or
    /// the working directory without a file.
    let folder: String
    private let reader: ConfigReader

    /// `snapshot` is what the file's provider holds (`provider.snapshot()`); nil without a file.
    init(path: String?, snapshot: (any ConfigSnapshot)?, environment: [String: String]) throws(Failure) {
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "sluice"),
        ]
        if let path {
            // ReloadingFileProvider(allowMissing: true) holds an empty snapshot of its own while the file is missing.
            guard let file = snapshot as? ConfigFileSnapshot else {
                throw Failure(description: "cannot read configuration file \(path): no such file")
            }
            if case .failure(let problem) = file.root {
                throw Failure(description: problem.message(path: path))
            }
            providers.append(file)
            self.file = file
            folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        } else {
            file = nil
            folder = FileManager.default.currentDirectoryPath
        }
        self.path = path
        reader = ConfigReader(providers: providers)
    }

    /// `key`'s value as text: one value of the file (whatever its YAML type: `3`, `0.5` and `1s`
    /// all read as text), or the variable's text. nil if absent.
    func text(_ key: ConfigKey) async throws(Failure) -> String? {
        do {
            return try await reader.fetchString(forKey: key)
        } catch {
            throw Failure(description: "invalid configuration '\(key)': \(Self.explain(error))")
        }
    }

    /// `key`'s list: a YAML list, or a variable's comma-separated items. nil if absent. Anything
    /// else fails with "expected `expected`", except a single value where `acceptingOne`.
    func list(_ key: ConfigKey, expected: String, acceptingOne: Bool = false) async throws(Failure) -> [String]? {
        let items: [String]?
        do {
            items = try await reader.fetchStringArray(forKey: key)
        } catch {
            if acceptingOne, let one = try? await reader.fetchString(forKey: key) { return [one] }
            throw Failure(description: "invalid configuration '\(key)': expected \(expected)")
        }
        guard let items else { return nil }
        return items == [""] ? [] : items  // a variable set to nothing: no items
    }

    /// `key` as true or false: a YAML boolean in the file (`true`, `yes`, `on`, ... unquoted);
    /// `true`, `false`, `yes`, `no`, `1` or `0` in a variable. nil if absent.
    func flag(_ key: ConfigKey) async throws(Failure) -> Bool? {
        do {
            return try await reader.fetchBool(forKey: key)
        } catch {
            if let shown = try? await reader.fetchString(forKey: key) {
                throw Failure(description: "invalid configuration '\(key)': '\(shown)' is not true or false")
            }
            throw Failure(description: "invalid configuration '\(key)': \(Self.explain(error))")
        }
    }

    /// The names under `path` in the file: a section whose keys are names (`namespaces.limits`, a
    /// plugin's parameters). The environment cannot add names: it cannot be listed.
    func names(under path: [String]) -> [String] {
        file?.names(under: path) ?? []
    }

    /// `path` if absolute, else taken from `folder`.
    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: folder).appendingPathComponent(path).path
    }

    private static func explain(_ error: any Error) -> String {
        (error as? ConfigFileSnapshot.Mismatch)?.description ?? "\(error)"
    }
}
