/// The one-byte command codes of SLU/1 (docs/PROTOCOL.md §4).
public enum Command: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case hello = 0x01
    case welcome = 0x02
    case heartbeat = 0x03
    case goodbye = 0x04
    case error = 0x05
    case cluster = 0x06
    case members = 0x07
    case follow = 0x08
    case invokers = 0x09
    case activate = 0x10
    case answer = 0x11
    case recovered = 0x12
    case completed = 0x13
    case inventory = 0x14
    case capacity = 0x20
    case dispatch = 0x21
    case result = 0x22
    case completion = 0x23
    case subscribe = 0x30
    case unsubscribe = 0x31
    case publish = 0x32

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .welcome: "WELCOME"
        case .heartbeat: "HEARTBEAT"
        case .goodbye: "GOODBYE"
        case .error: "ERROR"
        case .cluster: "CLUSTER"
        case .members: "MEMBERS"
        case .recovered: "RECOVERED"
        case .follow: "FOLLOW"
        case .invokers: "INVOKERS"
        case .completed: "COMPLETED"
        case .inventory: "INVENTORY"
        case .activate: "ACTIVATE"
        case .answer: "ANSWER"
        case .capacity: "CAPACITY"
        case .dispatch: "DISPATCH"
        case .result: "RESULT"
        case .completion: "COMPLETION"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .publish: "PUBLISH"
        }
    }
}

/// A direction of travel; which commands are allowed depends on it (§4, table).
public enum Channel: Sendable, CaseIterable {
    case controllerToBroker, brokerToController, invokerToBroker, brokerToInvoker

    /// Whether this direction allows `command`. A bit test, no allocation: it runs for every
    /// message received.
    @inlinable
    public func allows(_ command: Command) -> Bool {
        let bit: UInt64 = 1 << UInt64(command.rawValue & 0x3F)
        let mask: UInt64 = switch self {
        case .controllerToBroker: Channel.controllerToBrokerMask
        case .brokerToController: Channel.brokerToControllerMask
        case .invokerToBroker: Channel.invokerToBrokerMask
        case .brokerToInvoker: Channel.brokerToInvokerMask
        }
        return mask & bit != 0
    }

    @usableFromInline static let controllerToBrokerMask = mask(Channel.controllerToBroker.allowedCommands)
    @usableFromInline static let brokerToControllerMask = mask(Channel.brokerToController.allowedCommands)
    @usableFromInline static let invokerToBrokerMask = mask(Channel.invokerToBroker.allowedCommands)
    @usableFromInline static let brokerToInvokerMask = mask(Channel.brokerToInvoker.allowedCommands)

    /// Every command byte is below 0x40, so one bit each fits a `UInt64`.
    static func mask(_ commands: Set<Command>) -> UInt64 {
        commands.reduce(0) { mask, command in
            precondition(command.rawValue < 64, "command byte 0x\(String(command.rawValue, radix: 16)) does not fit the mask")
            return mask | 1 << UInt64(command.rawValue)
        }
    }

    /// The commands this direction allows (the spec's table; `allows` is the fast test).
    public var allowedCommands: Set<Command> {
        switch self {
        case .controllerToBroker: [.hello, .heartbeat, .goodbye, .cluster, .follow, .invokers, .activate, .subscribe, .unsubscribe, .publish]
        case .brokerToController: [.welcome, .heartbeat, .error, .members, .answer, .recovered, .completed, .inventory, .publish]
        case .invokerToBroker: [.hello, .heartbeat, .goodbye, .cluster, .capacity, .result, .completion, .subscribe, .unsubscribe, .publish]
        case .brokerToInvoker: [.welcome, .heartbeat, .error, .members, .dispatch, .publish]
        }
    }
}

/// Protocol constants (§3).
public enum ProtocolConstants {
    /// The signature frame of version 1: `"SLU"` followed by the version byte.
    public static let signature: [UInt8] = [0x53, 0x4C, 0x55, version]
    public static let version: UInt8 = 1
    /// Longest identifier (§3.2).
    public static let maxIDLength = 128
    public static let maxNamespaceLength = 255
    public static let maxActionLength = 1024
    public static let maxTags = 32
    public static let maxTagLength = 64
    /// Longest topic or topic prefix (§4.13, §4.14).
    public static let maxTopicLength = 64
    /// Most topic prefixes one session may hold (§4.13).
    public static let maxSubscriptions = 32
}
