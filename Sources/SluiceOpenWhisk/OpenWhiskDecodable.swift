import Foundation

// OpenWhisk's ActivationMessage as Decodable types named after OpenWhisk's
// (core/connector/Message.scala, core/entity/*.scala), decoded with Foundation's JSONDecoder.
// `sluice openwhisk-json-bench` measures it against the hand-written reader the adapters use,
// on the same messages (docs/TOPICS.md, "Reading OpenWhisk's JSON").

/// `FullyQualifiedEntityName`: `{"path", "name", "version"?, "binding"?}`, or the string form.
public struct FullyQualifiedEntityName: Decodable, Equatable, Sendable {
    public var path: String
    public var name: String
    public var version: String?

    private enum Keys: String, CodingKey { case path, name, version }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            let parts = text.split(separator: "/")
            path = parts.dropLast().joined(separator: "/")
            name = parts.last.map(String.init) ?? ""
            version = nil
            return
        }
        let container = try decoder.container(keyedBy: Keys.self)
        path = try container.decode(String.self, forKey: .path)
        name = try container.decode(String.self, forKey: .name)
        version = try container.decodeIfPresent(String.self, forKey: .version)
    }
}

/// `Identity` as far as routing needs it: `subject` and `namespace.name` (or the older string).
public struct Identity: Decodable, Equatable, Sendable {
    public var subject: String?
    public var namespace: String

    private enum Keys: String, CodingKey { case subject, namespace }
    private enum NamespaceKeys: String, CodingKey { case name }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        subject = try container.decodeIfPresent(String.self, forKey: .subject)
        if let text = try? container.decode(String.self, forKey: .namespace) {
            namespace = text
        } else {
            namespace = try container.nestedContainer(keyedBy: NamespaceKeys.self, forKey: .namespace).decode(String.self, forKey: .name)
        }
    }
}

/// `ControllerInstanceId`: `{"asString", "instanceType"}`.
public struct ControllerInstanceId: Decodable, Equatable, Sendable {
    public var asString: String
}

/// Any JSON value, checked for syntax and never built (the activation's parameters).
public struct UnreadJSON: Decodable, Sendable {
    public init(from decoder: any Decoder) throws {}
}

/// `ActivationMessage`, the fields Sluice reads; the rest (parameters) only syntax-checked.
public struct ActivationMessage: Decodable, Sendable {
    public var transid: OpenWhiskTransactionID
    public var action: FullyQualifiedEntityName
    public var revision: String?
    public var user: Identity
    public var activationId: String
    public var rootControllerIndex: ControllerInstanceId
    public var blocking: Bool
    public var content: UnreadJSON?
}
