import Foundation

// OpenWhisk's own readers for the messages Sluice hands to OpenWhisk's controller, written out
// field by field from apache/openwhisk (commit 1fae641a), so a test can run every message Sluice
// writes through the rules OpenWhisk applies. spray-json 1.3.5 refuses a message that lacks any
// field that is not an `Option` in Scala, whatever its Scala default; unknown fields are ignored.
// Where OpenWhisk would drop the whole message, `Refusal` says which field and why.

struct Refusal: Error, CustomStringConvertible, Equatable {
    var field: String
    var problem: String
    var description: String { "\(field): \(problem)" }
}

/// Which acknowledgement OpenWhisk's `AcknowledgementMessage.serdes.read` makes of an object
/// (Message.scala L262-280): by the keys present, not by a type field.
enum OpenWhiskAcknowledgementKind: Equatable {
    case combined, completion, result
}

/// The acknowledgement as OpenWhisk's controller reads it (CommonLoadBalancer.processAcknowledgement).
struct ReadAcknowledgement: Equatable {
    var kind: OpenWhiskAcknowledgementKind
    var activationID: String
    /// `isSystemError`, read as false when absent (processAcknowledgement).
    var isSystemError: Bool
    /// The invoker whose slot is released and whose health is updated (combined, completion).
    var invokerInstance: Int?
    /// `response.response.statusCode` of a full activation record, nil for the id-only form.
    var statusCode: Int?
    /// `response.response.result.error`, when the record carries an error text.
    var errorText: String?
}

/// A JSON value that keeps booleans and numbers apart (JSONDecoder does; JSONSerialization on
/// Linux bridges both to NSNumber).
enum JSONValue: Decodable {
    case null, bool(Bool), integer(Int64), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    /// As Foundation objects, with booleans as `Bool` and numbers as `NSNumber` of Int64/Double.
    var any: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): JSONBool(value: value)
        case .integer(let value): NSNumber(value: value)
        case .double(let value): NSNumber(value: value)
        case .string(let value): value
        case .array(let values): values.map(\.any)
        case .object(let fields): fields.mapValues(\.any)
        }
    }
}

/// A JSON boolean, never taken for a number.
struct JSONBool { var value: Bool }

enum OpenWhiskReaders {
    static func object(_ bytes: [UInt8]) throws -> [String: Any] {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)), case .object = value,
              let object = value.any as? [String: Any] else {
            throw Refusal(field: "", problem: "not a JSON object")
        }
        return object
    }

    static func required(_ object: [String: Any], _ key: String, at path: String) throws -> Any {
        guard let value = object[key], !(value is NSNull) else {
            throw Refusal(field: path + key, problem: "Object is missing required member '\(key)'")
        }
        return value
    }

    static func int(_ value: Any, _ field: String) throws -> Int {
        guard let number = value as? NSNumber, Double(number.int64Value) == number.doubleValue else {
            throw Refusal(field: field, problem: "expected an integer")
        }
        return number.intValue
    }

    static func bool(_ value: Any, _ field: String) throws -> Bool {
        guard let flag = value as? JSONBool else { throw Refusal(field: field, problem: "expected a boolean") }
        return flag.value
    }

    static func string(_ value: Any, _ field: String) throws -> String {
        guard let text = value as? String else { throw Refusal(field: field, problem: "expected a string") }
        return text
    }

    static func strings(_ value: Any, _ field: String) throws -> [String] {
        guard let list = value as? [Any] else { throw Refusal(field: field, problem: "expected an array") }
        return try list.enumerated().map { try string($1, "\(field)[\($0)]") }
    }

    /// `ActivationId.serdes` (ActivationId.scala L58-95): exactly 32 of [0-9a-f].
    static func activationID(_ value: Any, _ field: String) throws -> String {
        let text = try string(value, field)
        guard text.utf8.count == 32, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw Refusal(field: field, problem: "The activation id is not valid.")
        }
        return text
    }

    /// `ByteSize.fromString` (Size.scala L140): `(?i)\s?(\d+)\s?(GB|MB|KB|B|G|M|K)\s?`.
    static func byteSize(_ value: Any, _ field: String) throws {
        let text = try string(value, field)
        guard text.range(of: #"^\s?\d+\s?(GB|MB|KB|B|G|M|K)\s?$"#, options: [.regularExpression, .caseInsensitive]) != nil else {
            throw Refusal(field: field, problem: "Size Unit not supported")
        }
    }

    /// `TransactionId.serdes.read` (TransactionId.scala L274-303): never fails on a malformed
    /// value (it becomes sid_unknown), but the key is required by the message's jsonFormat.
    static func transid(_ object: [String: Any]) throws -> (id: String, start: Int)? {
        let value = try required(object, "transid", at: "")
        guard let list = value as? [Any], list.count >= 2, let id = list[0] as? String, let start = list[1] as? NSNumber else { return nil }
        return (id, start.intValue)
    }

    /// `InstanceId.serdes` in an acknowledgement (InstanceId.scala L175-196, L97-119): an
    /// `InvokerInstanceId` needs `instance`, `userMemory`, `instanceType` "invoker", `tags`
    /// and `dedicatedNamespaces`; `uniqueName`, `displayedName`, `busyMemory` are optional.
    static func invokerInstanceID(_ value: Any, at path: String) throws -> Int {
        guard let object = value as? [String: Any] else { throw Refusal(field: path, problem: "could not read InstanceId") }
        guard let type = object["instanceType"] as? String else { throw Refusal(field: path + ".instanceType", problem: "could not read InstanceId") }
        guard type == "invoker" else { throw Refusal(field: path + ".instanceType", problem: "an acknowledgement names an invoker, got \(type)") }
        let instance = try int(try required(object, "instance", at: path + "."), path + ".instance")
        try byteSize(try required(object, "userMemory", at: path + "."), path + ".userMemory")
        _ = try strings(try required(object, "tags", at: path + "."), path + ".tags")
        _ = try strings(try required(object, "dedicatedNamespaces", at: path + "."), path + ".dedicatedNamespaces")
        for key in ["uniqueName", "displayedName"] where object[key] != nil && !(object[key] is NSNull) { _ = try string(object[key]!, path + "." + key) }
        if let busy = object["busyMemory"], !(busy is NSNull) { try byteSize(busy, path + ".busyMemory") }
        return instance
    }

    /// `WhiskActivation.serdes` (WhiskActivation.scala L52-64, L182, jsonFormat13): required
    /// `namespace`, `name`, `subject`, `activationId`, `start`, `end`, `response`, `logs`,
    /// `version`, `publish`, `annotations`; optional `cause`, `duration`.
    static func whiskActivation(_ value: Any, at path: String) throws -> (id: String, statusCode: Int, errorText: String?) {
        guard let record = value as? [String: Any] else { throw Refusal(field: path, problem: "expected an object") }
        let p = path + "."
        // EntityPath / EntityName (EntityPath.scala L141-179, L206).
        let namespace = try string(try required(record, "namespace", at: p), p + "namespace")
        let name = try string(try required(record, "name", at: p), p + "name")
        let entityName = #"^([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])$"#
        for part in namespace.split(separator: "/", omittingEmptySubsequences: false) where String(part).range(of: entityName, options: .regularExpression) == nil {
            throw Refusal(field: p + "namespace", problem: "not an EntityPath: \(namespace)")
        }
        guard name.range(of: entityName, options: .regularExpression) != nil else { throw Refusal(field: p + "name", problem: "not an EntityName: \(name)") }
        // Subject (Subject.scala L46-68): at least 5 characters once trimmed.
        let subject = try string(try required(record, "subject", at: p), p + "subject")
        guard subject.trimmingCharacters(in: .whitespaces).count >= 5 else { throw Refusal(field: p + "subject", problem: "subject must be at least 5 characters") }
        let id = try activationID(try required(record, "activationId", at: p), p + "activationId")
        for key in ["start", "end"] {
            let instant = try required(record, key, at: p)
            guard instant is NSNumber || instant is String else { throw Refusal(field: p + key, problem: "timestamp malformed") }
        }
        // ActivationResponse on the bus (ActivationResult.scala L27-29, L259): statusCode required.
        guard let response = try required(record, "response", at: p) as? [String: Any] else {
            throw Refusal(field: p + "response", problem: "expected an object")
        }
        let statusCode = try int(try required(response, "statusCode", at: p + "response."), p + "response.statusCode")
        let errorText = (response["result"] as? [String: Any])?["error"] as? String
        _ = try strings(try required(record, "logs", at: p), p + "logs")
        // SemVer (SemVer.scala L81-101): "M.m.p", not 0.0.0.
        let version = try string(try required(record, "version", at: p), p + "version")
        let parts = version.split(separator: ".").map { Int($0) }
        guard (1...3).contains(parts.count), parts.allSatisfy({ $0 != nil && $0! >= 0 }), parts.contains(where: { $0! > 0 }) else {
            throw Refusal(field: p + "version", problem: "bad semantic version \(version)")
        }
        _ = try bool(try required(record, "publish", at: p), p + "publish")
        // Parameters (Parameter.scala L294-337): an array of objects with a string `key` and a `value`.
        guard let annotations = try required(record, "annotations", at: p) as? [Any] else {
            throw Refusal(field: p + "annotations", problem: "expected an array")
        }
        for (index, entry) in annotations.enumerated() {
            guard let pair = entry as? [String: Any], pair["key"] is String, pair["value"] != nil else {
                throw Refusal(field: p + "annotations[\(index)]", problem: "expected {\"key\": string, \"value\": ...}")
            }
        }
        if let duration = record["duration"], !(duration is NSNull) { _ = try int(duration, p + "duration") }
        return (id, statusCode, errorText)
    }

    /// `AcknowledgementMessage.parse` (Message.scala L247-280) and the fields
    /// `processAcknowledgement` uses (CommonLoadBalancer.scala L220-247).
    static func acknowledgement(_ bytes: [UInt8]) throws -> ReadAcknowledgement {
        let object = try object(bytes)
        let hasInstance = object["instance"] != nil
        let hasResponse = object["response"] != nil
        _ = try transid(object)
        var systemError = false
        if let flag = object["isSystemError"], !(flag is NSNull) { systemError = try bool(flag, "isSystemError") }
        if hasInstance && hasResponse {
            let invoker = try invokerInstanceID(object["instance"]!, at: "instance")
            let (id, statusCode, errorText) = try eitherResponse(object["response"]!)
            return ReadAcknowledgement(kind: .combined, activationID: id, isSystemError: systemError, invokerInstance: invoker,
                                       statusCode: statusCode, errorText: errorText)
        }
        if hasInstance {
            let invoker = try invokerInstanceID(object["instance"]!, at: "instance")
            let id = try activationID(try required(object, "activationId", at: ""), "activationId")
            return ReadAcknowledgement(kind: .completion, activationID: id, isSystemError: systemError, invokerInstance: invoker)
        }
        let (id, statusCode, errorText) = try eitherResponse(try required(object, "response", at: ""))
        // A ResultMessage's isSystemError is derived from its record, not read (L173-190).
        return ReadAcknowledgement(kind: .result, activationID: id, isSystemError: statusCode == 3, invokerInstance: nil,
                                   statusCode: statusCode, errorText: errorText)
    }

    /// `eitherResponse` (Message.scala L249-260): an activation id string, or a WhiskActivation.
    static func eitherResponse(_ value: Any) throws -> (String, Int?, String?) {
        if value is String { return (try activationID(value, "response"), nil, nil) }
        if value is [String: Any] {
            let record = try whiskActivation(value, at: "response")
            return (record.id, record.statusCode, record.errorText)
        }
        throw Refusal(field: "response", problem: "could not read ResultMessage")
    }

    /// `PingMessage.serdes` (Message.scala L283-293): the invoker id under `name`, optional `isEnabled`.
    static func ping(_ bytes: [UInt8]) throws -> (instance: Int, enabled: Bool) {
        let object = try object(bytes)
        let instance = try invokerInstanceID(try required(object, "name", at: ""), at: "name")
        var enabled = true
        if let flag = object["isEnabled"], !(flag is NSNull) { enabled = try bool(flag, "isEnabled") }
        return (instance, enabled)
    }
}
