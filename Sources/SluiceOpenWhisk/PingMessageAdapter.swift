import Foundation
import SluiceProtocol

/// An OpenWhisk invoker's health ping, as read: who it is, what it offers, and whether it
/// wants work.
public struct InvokerPing: Equatable, Sendable {
    /// The invoker's instance number (`name.instance`).
    public var instance: Int
    /// Its Sluice invoker id, `"invoker<N>"`.
    public var invokerID: String
    /// Memory for user containers in MB, from `name.userMemory`; at least 1.
    public var memoryMB: UInt32
    /// `name.uniqueName`, when given.
    public var uniqueName: String?
    /// `name.displayedName`, when given.
    public var displayedName: String?
    /// Tags the invoker offers (`name.tags`).
    public var tags: [String]
    /// Namespaces the invoker is reserved for (`name.dedicatedNamespaces`).
    public var dedicatedNamespaces: [String]
    /// `isEnabled`; an absent field (older invokers) counts as enabled.
    public var isEnabled: Bool

    /// Creates a ping.
    public init(
        instance: Int, memoryMB: UInt32, uniqueName: String? = nil, displayedName: String? = nil,
        tags: [String] = [], dedicatedNamespaces: [String] = [], isEnabled: Bool = true
    ) {
        self.instance = instance
        self.invokerID = OpenWhiskIdentifiers.invokerID(instance: instance)
        self.memoryMB = memoryMB
        self.uniqueName = uniqueName
        self.displayedName = displayedName
        self.tags = tags
        self.dedicatedNamespaces = dedicatedNamespaces
        self.isEnabled = isEnabled
    }

    /// Whether the invoker must be drained now (`isEnabled: false`).
    public var drains: Bool { !isEnabled }

    /// The HELLO (§4.1) this invoker registers with: its full memory, `slots` concurrent
    /// activations (0 is raised to 1, as HELLO requires), its tags and dedicated namespaces.
    /// A disabled invoker still registers with its real capacity; send `capacityUpdate(slots:)`
    /// right after to drain it.
    public func hello(slots: UInt32) -> InvokerHello {
        InvokerHello(invokerID: invokerID, memoryMB: memoryMB, slots: max(1, slots), tags: tags, dedicatedNamespaces: dedicatedNamespaces)
    }

    /// The CAPACITY (§4.8) matching this ping: `Capacity(memoryMB: 0, slots: 0)` (drain) when
    /// disabled; otherwise the full capacity, which undrains an invoker drained before (`slots`
    /// 0 is raised to 1, as a non-draining CAPACITY requires).
    public func capacityUpdate(slots: UInt32) -> Capacity {
        isEnabled ? Capacity(memoryMB: memoryMB, slots: max(1, slots)) : Capacity(memoryMB: 0, slots: 0)
    }
}

/// Reads OpenWhisk's PingMessage (`{"name": <invoker instance>, "isEnabled": bool}`), sent
/// by every invoker on topic `health` every second.
public enum PingMessageAdapter {
    /// Reads the ping `json` (UTF-8 bytes).
    ///
    /// `name` must be an invoker instance object: `instance` (integer >= 0, required),
    /// `userMemory` (an OpenWhisk byte size such as `"2048 MB"`, `"2 GB"`, `"2048 M"`,
    /// `"2147483648 B"`, or a number of MB), `instanceType` (`"invoker"` when present),
    /// optional `uniqueName`, `displayedName`, `tags` and `dedicatedNamespaces`.
    /// When `userMemory` is absent (old invokers), `defaultMemoryMB` is used if given.
    /// Throws `OpenWhiskMessageError` naming the field.
    public static func parse(_ json: [UInt8], defaultMemoryMB: UInt32? = nil) throws(OpenWhiskMessageError) -> InvokerPing {
        let document = try JSONParser.parse(json)
        let message = try JSONObject(document, path: "")
        let name = try message.object("name")

        let instance = try name.integer("instance")
        guard instance >= 0 else {
            throw OpenWhiskMessageError(field: "name.instance", problem: "must not be negative, found \(instance)")
        }
        if let instanceType = try name.optionalString("instanceType"), instanceType != "invoker" {
            throw OpenWhiskMessageError(field: "name.instanceType", problem: "expected \"invoker\", found \"\(shown(instanceType))\"")
        }
        let memoryMB = try readMemory(name, defaultMemoryMB: defaultMemoryMB)
        let uniqueName = try name.optionalString("uniqueName")
        let displayedName = try name.optionalString("displayedName")
        let tags = try JSONObject.strings(try name.optionalArray("tags") ?? [], field: "name.tags")
        try OpenWhiskIdentifiers.checkTags(tags, field: "name.tags")
        let dedicated = try JSONObject.strings(try name.optionalArray("dedicatedNamespaces") ?? [], field: "name.dedicatedNamespaces")
        guard dedicated.count <= ProtocolConstants.maxTags else {
            throw OpenWhiskMessageError(field: "name.dedicatedNamespaces", problem: "\(dedicated.count) namespaces; at most \(ProtocolConstants.maxTags)")
        }
        for (index, namespace) in dedicated.enumerated() {
            try OpenWhiskIdentifiers.checkName(namespace, field: "name.dedicatedNamespaces[\(index)]", maxLength: ProtocolConstants.maxNamespaceLength)
        }
        let isEnabled = try message.optionalBool("isEnabled") ?? true

        return InvokerPing(
            instance: instance, memoryMB: memoryMB, uniqueName: uniqueName, displayedName: displayedName,
            tags: tags, dedicatedNamespaces: dedicated, isEnabled: isEnabled)
    }

    /// Reads the ping `json`; see `parse(_:defaultMemoryMB:)` for `[UInt8]`.
    public static func parse(_ json: Data, defaultMemoryMB: UInt32? = nil) throws(OpenWhiskMessageError) -> InvokerPing {
        try parse([UInt8](json), defaultMemoryMB: defaultMemoryMB)
    }

    /// Whole megabytes in an OpenWhisk byte size (`ByteSize`): digits, optional whitespace, a
    /// unit `B`, `K`/`KB`, `M`/`MB` or `G`/`GB` (any case); bare digits count as MB. Sizes below
    /// one MB round down to 0. Nil if the text is not a size or does not fit in `UInt32`.
    public static func megabytes(fromByteSize text: String) -> UInt32? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty, let size = UInt64(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).uppercased()
        let megabytes: UInt64
        switch unit {
        case "B": megabytes = size / (1024 * 1024)
        case "K", "KB": megabytes = size / 1024
        case "M", "MB", "": megabytes = size
        case "G", "GB":
            let (product, overflow) = size.multipliedReportingOverflow(by: 1024)
            guard !overflow else { return nil }
            megabytes = product
        default: return nil
        }
        return UInt32(exactly: megabytes)
    }

    private static func readMemory(_ name: JSONObject, defaultMemoryMB: UInt32?) throws(OpenWhiskMessageError) -> UInt32 {
        let field = "name.userMemory"
        guard let value = name.value("userMemory") else {
            guard let defaultMemoryMB, defaultMemoryMB >= 1 else { throw name.missing("userMemory") }
            return defaultMemoryMB
        }
        let megabytes: UInt32
        switch value {
        case .string(let text):
            guard let parsed = PingMessageAdapter.megabytes(fromByteSize: text) else {
                throw OpenWhiskMessageError(field: field, problem: "expected a size such as \"2048 MB\", found '\(shown(text))'")
            }
            megabytes = parsed
        case .number:
            let number = try JSONObject.integer(value, field: field)
            guard let parsed = UInt32(exactly: number) else {
                throw OpenWhiskMessageError(field: field, problem: "\(number) MB is out of range")
            }
            megabytes = parsed
        default:
            throw name.mismatch("userMemory", expected: "a string such as \"2048 MB\"", found: value)
        }
        guard megabytes >= 1 else { throw OpenWhiskMessageError(field: field, problem: "must be at least 1 MB") }
        return megabytes
    }
}
