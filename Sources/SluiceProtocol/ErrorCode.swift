/// An ERROR code (§7). A struct rather than an enum so codes added later still decode.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let badSignature = ErrorCode(rawValue: 1)
    public static let badVersion = ErrorCode(rawValue: 2)
    public static let unknownCommand = ErrorCode(rawValue: 3)
    public static let unexpectedCommand = ErrorCode(rawValue: 4)
    public static let malformed = ErrorCode(rawValue: 5)
    public static let invalidID = ErrorCode(rawValue: 6)
    public static let notRegistered = ErrorCode(rawValue: 7)
    public static let duplicateActivation = ErrorCode(rawValue: 8)
    public static let unknownActivation = ErrorCode(rawValue: 9)
    public static let oversize = ErrorCode(rawValue: 10)
    /// With CURVE, a HELLO whose id the client's key is not bound to (§8).
    public static let notAuthorized = ErrorCode(rawValue: 11)

    public static let known: [ErrorCode] = [
        .badSignature, .badVersion, .unknownCommand, .unexpectedCommand, .malformed,
        .invalidID, .notRegistered, .duplicateActivation, .unknownActivation, .oversize, .notAuthorized,
    ]

    /// The name used in the spec, logs and counters.
    public var name: String {
        switch self {
        case .badSignature: "badSignature"
        case .badVersion: "badVersion"
        case .unknownCommand: "unknownCommand"
        case .unexpectedCommand: "unexpectedCommand"
        case .malformed: "malformed"
        case .invalidID: "invalidId"
        case .notRegistered: "notRegistered"
        case .duplicateActivation: "duplicateActivation"
        case .unknownActivation: "unknownActivation"
        case .oversize: "oversize"
        case .notAuthorized: "notAuthorized"
        default: "error\(rawValue)"
        }
    }

    public var description: String { name }
}

/// Why a message could not be decoded: the code to reply with, a reason naming the problem,
/// and the activation id when it could be read before the problem (§7).
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var reason: String
    public var activationID: String?
    /// The command byte, when it was read.
    public var command: Command?

    public init(_ code: ErrorCode, _ reason: String, activationID: String? = nil, command: Command? = nil) {
        self.code = code
        self.reason = reason
        self.activationID = activationID
        self.command = command
    }

    public var description: String { "\(code.name): \(reason)" }
}
