import Foundation
import Logging
import SluiceProtocol

/// One JSON object per line on standard error: `timestamp` (RFC 3339, UTC, microseconds),
/// `level`, `logger`, `message`, then each metadata key as a field of its own (a key that
/// would clash with those four is prefixed `metadata_`). Nested metadata becomes JSON arrays
/// and objects. docs/OPERATIONS.md shows an example.
public struct JSONLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let reserved: Set<String> = ["timestamp", "level", "logger", "message"]

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        let line = Self.line(timestamp: Date(), level: event.level, logger: label, message: "\(event.message)", metadata: merged)
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public static func line(timestamp: Date, level: Logger.Level, logger: String, message: String, metadata: Logger.Metadata) -> String {
        var fields = [
            "\"timestamp\":" + quoted(rfc3339(timestamp)),
            "\"level\":" + quoted(level.rawValue),
            "\"logger\":" + quoted(logger),
            "\"message\":" + quoted(message),
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let name = reserved.contains(key) ? "metadata_" + key : key
            fields.append(quoted(name) + ":" + json(value))
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): quoted(text)
        case .stringConvertible(let convertible): quoted(convertible.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.sorted(by: { $0.key < $1.key }).map { quoted($0.key) + ":" + json($0.value) }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ text: String) -> String { Text.jsonQuoted(text) }

    static func rfc3339(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        let micros = Int((date.timeIntervalSince1970 - Double(seconds)) * 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let microsText = String(micros)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - microsText.count) + microsText + "Z"
    }
}
