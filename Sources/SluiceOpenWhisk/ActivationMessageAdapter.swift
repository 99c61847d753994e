import Foundation
import SluiceProtocol

/// What a controller knows about an activation that its ActivationMessage does not carry:
/// the action's limits (from the action document) and where it must run.
public struct RoutingHints: Equatable, Sendable {
    /// The action's memory limit in MB; nil: OpenWhisk's default, 256 MB. Must be at least 1.
    public var memoryMB: UInt32?
    /// The action's time limit in milliseconds; nil: OpenWhisk's default, 60,000 ms. Must be at least 1.
    public var timeLimitMilliseconds: UInt32?
    /// Only this invoker may run it (a Sluice invoker id such as `"invoker3"`, see
    /// `OpenWhiskIdentifiers.invokerID(instance:)`, for a message meant for topic `invoker3`);
    /// nil or empty: the broker places it.
    public var targetInvoker: String?
    /// A blackbox (Docker image) action, placed on OpenWhisk's blackbox invoker share.
    public var blackbox: Bool
    /// Tags the invoker must offer (at most 32, each 1...64 bytes).
    public var requiredTags: [String]
    /// Longest it may wait for room, milliseconds; 0: the broker's limit.
    public var maxWaitMilliseconds: UInt32

    /// Creates hints; every value is optional.
    public init(
        memoryMB: UInt32? = nil, timeLimitMilliseconds: UInt32? = nil, targetInvoker: String? = nil,
        blackbox: Bool = false, requiredTags: [String] = [], maxWaitMilliseconds: UInt32 = 0
    ) {
        self.memoryMB = memoryMB
        self.timeLimitMilliseconds = timeLimitMilliseconds
        self.targetInvoker = targetInvoker
        self.blackbox = blackbox
        self.requiredTags = requiredTags
        self.maxWaitMilliseconds = maxWaitMilliseconds
    }
}

/// Reads an OpenWhisk ActivationMessage (the JSON a controller sends to `invoker<N>`) and
/// produces the Sluice routing header for it (docs/PROTOCOL.md §4.6).
///
/// The message itself travels on as the opaque ACTIVATE payload, unchanged; this adapter only
/// reads what the broker needs. Accepted shapes:
/// - `transid`: `[id, startMillis]` or `[id, startMillis, extraLogging]` (required);
/// - `action`: `{"path", "name", "version"?, "binding"?}`, or the string form
///   `"namespace/[package/]name"` that OpenWhisk also reads (required);
/// - `revision`: a string or null (required);
/// - `user`: an object whose `namespace` is `{"name", "uuid"}` or, in older messages, a plain
///   string (required);
/// - `activationId`: 32 lowercase hexadecimal characters (required);
/// - `rootControllerIndex`: `{"asString", "instanceType": "controller"}`, the older
///   `{"instance": N}`, or a plain string or number (required);
/// - `blocking`: a boolean (required);
/// - optional `content` (object), `initArgs` (array), `lockedArgs` (object), `cause`
///   (activation id), `traceContext` (object): their types are checked, and `content` and the
///   others are syntax-checked without being decoded.
///
/// Any problem throws `OpenWhiskMessageError` naming the field; a header is only returned
/// when every field checked out, and every returned header encodes (its strings fit §4.6).
public enum ActivationMessageAdapter {
    /// OpenWhisk's default action memory limit, used when the caller gives none.
    public static let defaultMemoryMB: UInt32 = 256
    /// OpenWhisk's default action time limit, used when the caller gives none.
    public static let defaultTimeLimitMilliseconds: UInt32 = 60_000

    /// Fields whose values are only syntax-checked (they can be large and Sluice never reads them).
    private static let unbuiltFields: [[String]] = [["content"], ["initArgs"], ["lockedArgs"], ["traceContext"]]

    /// The routing header for the ActivationMessage `json` (UTF-8 bytes).
    ///
    /// - `activationID` = `activationId`;
    /// - `namespace` = `user.namespace.name`, the invoking user's namespace (which may differ
    ///   from the namespace the action lives in);
    /// - `action` = `"<action.path>/<action.name>"`, fully qualified, without the version;
    /// - `revision` = `revision` (empty for null);
    /// - `blocking` = `blocking`;
    /// - `answerTo` = `rootControllerIndex.asString` (the controller that gets the answer; its
    ///   OpenWhisk id, for example `"0"`, is used as the Sluice controller id unchanged and must
    ///   match `[A-Za-z0-9._-]{1,128}`);
    /// - memory, time limit, target invoker, blackbox, required tags and maximum wait from
    ///   `hints`, with OpenWhisk's defaults (256 MB, 60,000 ms) for absent limits.
    public static func routingHeader(
        from json: [UInt8], hints: RoutingHints = RoutingHints()
    ) throws(OpenWhiskMessageError) -> RoutingHeader {
        try read(json, hints: hints).header
    }

    /// The routing header for the ActivationMessage `json`, and what a controller must
    /// remember to write OpenWhisk's acknowledgement if Sluice decides the answer, read in one
    /// pass. `sent.bookedInvoker` is -1 and `sent.sentAtMilliseconds` 0: the caller knows them.
    public static func read(
        _ json: [UInt8], hints: RoutingHints = RoutingHints()
    ) throws(OpenWhiskMessageError) -> (header: RoutingHeader, sent: SentActivation) {
        let document = try JSONParser.parse(json, unbuilt: unbuiltFields)
        let message = try JSONObject(document, path: "")

        let transid = try OpenWhiskTransactionID.read(from: message)
        let action = try readAction(message)
        let revision = try readRevision(message)
        let (namespace, subject) = try readUser(message)
        let activationID = try OpenWhiskIdentifiers.activationID(try message.required("activationId"), field: "activationId")
        let answerTo = try readRootController(message)
        let blocking = try message.bool("blocking")
        try message.checkOptional("content", is: .object)
        try message.checkOptional("initArgs", is: .array)
        try message.checkOptional("lockedArgs", is: .object)
        if message.hasValue("cause") {
            _ = try OpenWhiskIdentifiers.activationID(try message.required("cause"), field: "cause")
        }
        try message.checkOptional("traceContext", is: .object)

        let memoryMB = try checkLimit(hints.memoryMB, default: defaultMemoryMB, field: "hints.memoryMB")
        let timeLimit = try checkLimit(hints.timeLimitMilliseconds, default: defaultTimeLimitMilliseconds, field: "hints.timeLimitMilliseconds")
        let target = hints.targetInvoker ?? ""
        if !target.isEmpty, !Identifier.isValid(target) {
            throw OpenWhiskMessageError(field: "hints.targetInvoker", problem: "'\(shown(target))' is not a valid Sluice id ([A-Za-z0-9._-]{1,128})")
        }
        try OpenWhiskIdentifiers.checkTags(hints.requiredTags, field: "hints.requiredTags")

        let header = RoutingHeader(
            activationID: activationID, namespace: namespace, action: action.qualified, revision: revision,
            memoryMB: memoryMB, timeLimitMilliseconds: timeLimit, blocking: blocking, blackbox: hints.blackbox,
            targetInvoker: target, answerTo: answerTo, requiredTags: hints.requiredTags,
            maxWaitMilliseconds: hints.maxWaitMilliseconds)
        let sent = SentActivation(transid: transid, subject: subject ?? "", namespace: namespace, actionPath: action.path,
                                  actionName: action.name, actionVersion: action.version ?? "0.0.1", blocking: blocking)
        return (header, sent)
    }

    /// The routing header for the ActivationMessage `json`; see `routingHeader(from:hints:)` for `[UInt8]`.
    public static func routingHeader(
        from json: Data, hints: RoutingHints = RoutingHints()
    ) throws(OpenWhiskMessageError) -> RoutingHeader {
        try routingHeader(from: [UInt8](json), hints: hints)
    }

    // MARK: Fields

    /// `"<path>/<name>"` from `action`, its path, name and version.
    private static func readAction(_ message: JSONObject) throws(OpenWhiskMessageError) -> (qualified: String, path: String, name: String, version: String?) {
        let value = try message.required("action")
        let qualified: String
        var version: String? = nil
        switch value {
        case .object:
            let action = try JSONObject(value, path: "action")
            let path = trimmingSlashes(try action.string("path"))
            let name = try action.string("name")
            guard !path.isEmpty else { throw OpenWhiskMessageError(field: "action.path", problem: "must not be empty") }
            guard !name.isEmpty, !name.contains("/") else {
                throw OpenWhiskMessageError(field: "action.name", problem: "must be a non-empty name without '/', found '\(shown(name))'")
            }
            version = try action.optionalString("version")
            _ = try action.optionalString("binding")
            qualified = path + "/" + name
        case .string(let text):
            // OpenWhisk also reads a fully qualified name given as a string.
            qualified = trimmingSlashes(text)
            let segments = qualified.split(separator: "/", omittingEmptySubsequences: false)
            guard segments.count >= 2, !segments.contains(where: \.isEmpty) else {
                throw OpenWhiskMessageError(field: "action", problem: "expected a fully qualified name 'namespace/[package/]name', found '\(shown(text))'")
            }
        default:
            throw message.mismatch("action", expected: "an object", found: value)
        }
        guard qualified.utf8.count <= ProtocolConstants.maxActionLength else {
            throw OpenWhiskMessageError(field: "action", problem: "fully qualified name is \(qualified.utf8.count) bytes; at most \(ProtocolConstants.maxActionLength)")
        }
        guard !Text.containsControlCharacter(qualified) else {
            throw OpenWhiskMessageError(field: "action", problem: "must not contain control characters")
        }
        let slash = qualified.lastIndex(of: "/")!
        return (qualified, String(qualified[..<slash]), String(qualified[qualified.index(after: slash)...]), version)
    }

    /// `revision`: a string (trimmed, as OpenWhisk does) or null (empty).
    private static func readRevision(_ message: JSONObject) throws(OpenWhiskMessageError) -> String {
        let value = try message.required("revision")
        switch value {
        case .null:
            return ""
        case .string(let text):
            let revision = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard revision.utf8.count <= 255 else {
                throw OpenWhiskMessageError(field: "revision", problem: "is \(revision.utf8.count) bytes; at most 255")
            }
            return revision
        default:
            throw message.mismatch("revision", expected: "a string or null", found: value)
        }
    }

    /// `user.namespace.name` (or `user.namespace` when it is a plain string, older messages)
    /// and `user.subject`.
    private static func readUser(_ message: JSONObject) throws(OpenWhiskMessageError) -> (namespace: String, subject: String?) {
        let user = try message.object("user")
        let subject = try user.optionalString("subject")
        let value = try user.required("namespace")
        let name: String
        let field: String
        switch value {
        case .string(let text):
            name = text
            field = "user.namespace"
        case .object:
            let namespace = try JSONObject(value, path: "user.namespace")
            name = try namespace.string("name")
            _ = try namespace.optionalString("uuid")
            field = "user.namespace.name"
        default:
            throw user.mismatch("namespace", expected: "an object or a string", found: value)
        }
        try OpenWhiskIdentifiers.checkName(name, field: field, maxLength: ProtocolConstants.maxNamespaceLength)
        return (name, subject)
    }

    /// The answering controller's id from `rootControllerIndex`.
    private static func readRootController(_ message: JSONObject) throws(OpenWhiskMessageError) -> String {
        let value = try message.required("rootControllerIndex")
        let id: String
        let field: String
        switch value {
        case .object:
            let index = try JSONObject(value, path: "rootControllerIndex")
            if let instanceType = try index.optionalString("instanceType"), instanceType != "controller" {
                throw OpenWhiskMessageError(field: "rootControllerIndex.instanceType", problem: "expected \"controller\", found \"\(shown(instanceType))\"")
            }
            if index.value("asString") != nil {
                id = try index.string("asString")
                field = "rootControllerIndex.asString"
            } else if index.value("instance") != nil {
                // Older controllers: ControllerInstanceId was {"instance": N}.
                let instance = try index.integer("instance")
                guard instance >= 0 else {
                    throw OpenWhiskMessageError(field: "rootControllerIndex.instance", problem: "must not be negative, found \(instance)")
                }
                id = String(instance)
                field = "rootControllerIndex.instance"
            } else {
                throw index.missing("asString")
            }
        case .string(let text):
            id = text
            field = "rootControllerIndex"
        case .number:
            let instance = try JSONObject.integer(value, field: "rootControllerIndex")
            guard instance >= 0 else {
                throw OpenWhiskMessageError(field: "rootControllerIndex", problem: "must not be negative, found \(instance)")
            }
            id = String(instance)
            field = "rootControllerIndex"
        default:
            throw message.mismatch("rootControllerIndex", expected: "an object", found: value)
        }
        guard Identifier.isValid(id) else {
            throw OpenWhiskMessageError(field: field, problem: "'\(shown(id))' is not a valid Sluice id ([A-Za-z0-9._-]{1,128})")
        }
        return id
    }

    private static func checkLimit(_ value: UInt32?, default defaultValue: UInt32, field: String) throws(OpenWhiskMessageError) -> UInt32 {
        guard let value else { return defaultValue }
        guard value >= 1 else { throw OpenWhiskMessageError(field: field, problem: "must be at least 1") }
        return value
    }

    private static func trimmingSlashes(_ text: String) -> String {
        var result = Substring(text)
        while result.hasPrefix("/") { result = result.dropFirst() }
        while result.hasSuffix("/") { result = result.dropLast() }
        return String(result)
    }
}
