import SluiceProtocol

/// An OpenWhisk transaction id, as carried in every message's `transid` field:
/// `[id, startEpochMillis]`, or `[id, startEpochMillis, extraLogging]`.
public struct OpenWhiskTransactionID: Equatable, Hashable, Sendable {
    /// The transaction id text (for example `"sid_invokerHealth"` or a request id).
    public var id: String
    /// When the transaction started, milliseconds since the Unix epoch.
    public var startMilliseconds: Int64
    /// The optional third element: extra logging was requested for this transaction.
    public var extraLogging: Bool

    /// Creates a transaction id.
    public init(id: String, startMilliseconds: Int64, extraLogging: Bool = false) {
        self.id = id
        self.startMilliseconds = startMilliseconds
        self.extraLogging = extraLogging
    }

    /// Reads the `transid` field of `message` (required).
    static func read(from message: JSONObject) throws(OpenWhiskMessageError) -> OpenWhiskTransactionID {
        let field = message.fieldPath("transid")
        let value = try message.required("transid")
        guard case .array(let elements) = value else {
            throw OpenWhiskMessageError(field: field, problem: "expected an array [id, startMillis], found \(value.kind.phrase)")
        }
        guard elements.count == 2 || elements.count == 3 else {
            throw OpenWhiskMessageError(field: field, problem: "expected [id, startMillis] or [id, startMillis, extraLogging], found \(elements.count) elements")
        }
        guard case .string(let id) = elements[0] else {
            throw OpenWhiskMessageError(field: "\(field)[0]", problem: "expected a string, found \(elements[0].kind.phrase)")
        }
        guard case .number(let literal) = elements[1] else {
            throw OpenWhiskMessageError(field: "\(field)[1]", problem: "expected a number, found \(elements[1].kind.phrase)")
        }
        // spray-json reads the start with `longValue`, which truncates a fraction.
        guard let start = Int64(literal) ?? Double(literal).flatMap({ Int64(exactly: $0.rounded(.towardZero)) }) else {
            throw OpenWhiskMessageError(field: "\(field)[1]", problem: "start time \(literal) is out of range")
        }
        var extraLogging = false
        if elements.count == 3 {
            guard case .bool(let flag) = elements[2] else {
                throw OpenWhiskMessageError(field: "\(field)[2]", problem: "expected a boolean, found \(elements[2].kind.phrase)")
            }
            extraLogging = flag
        }
        return OpenWhiskTransactionID(id: id, startMilliseconds: start, extraLogging: extraLogging)
    }
}

/// OpenWhisk identifier rules shared by the adapters.
public enum OpenWhiskIdentifiers {
    /// Whether `id` is an OpenWhisk activation id: exactly 32 lowercase hexadecimal characters
    /// (OpenWhisk's `ActivationId.parse` accepts nothing else; such ids are also valid Sluice ids).
    public static func isValidActivationID(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard utf8.count == 32 else { return false }
        return utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// The Sluice invoker id for OpenWhisk invoker instance `instance`: `"invoker<N>"`, the
    /// name of the invoker's OpenWhisk topic.
    public static func invokerID(instance: Int) -> String { "invoker\(instance)" }

    /// Reads an activation id from `value`, naming `field` in errors.
    static func activationID(_ value: JSON, field: String) throws(OpenWhiskMessageError) -> String {
        guard case .string(let id) = value else {
            throw OpenWhiskMessageError(field: field, problem: "expected a string, found \(value.kind.phrase)")
        }
        guard isValidActivationID(id) else {
            throw OpenWhiskMessageError(field: field, problem: "expected 32 lowercase hexadecimal characters, found '\(shown(id))'")
        }
        return id
    }

    /// Checks a name Sluice sends as a short string: 1...`maxLength` UTF-8 bytes, no control characters.
    static func checkName(_ name: String, field: String, maxLength: Int) throws(OpenWhiskMessageError) {
        guard !name.isEmpty else { throw OpenWhiskMessageError(field: field, problem: "must not be empty") }
        guard name.utf8.count <= maxLength else {
            throw OpenWhiskMessageError(field: field, problem: "is \(name.utf8.count) bytes; at most \(maxLength)")
        }
        guard !Text.containsControlCharacter(name) else {
            throw OpenWhiskMessageError(field: field, problem: "must not contain control characters")
        }
    }

    /// Checks a list of tags (at most 32, each 1...64 bytes), naming `field` in errors.
    static func checkTags(_ tags: [String], field: String) throws(OpenWhiskMessageError) {
        guard tags.count <= ProtocolConstants.maxTags else {
            throw OpenWhiskMessageError(field: field, problem: "\(tags.count) tags; at most \(ProtocolConstants.maxTags)")
        }
        for (index, tag) in tags.enumerated() {
            try checkName(tag, field: "\(field)[\(index)]", maxLength: ProtocolConstants.maxTagLength)
        }
    }
}
