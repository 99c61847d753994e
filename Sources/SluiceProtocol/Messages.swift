/// The routing header the broker reads from ACTIVATE and forwards in DISPATCH (§4.6).
public struct RoutingHeader: Equatable, Hashable, Sendable {
    public var activationID: String
    public var namespace: String
    /// Fully qualified action name, `namespace/[package/]name`.
    public var action: String
    /// Document revision of the action; may be empty.
    public var revision: String
    public var memoryMB: UInt32
    public var timeLimitMilliseconds: UInt32
    public var blocking: Bool
    /// A blackbox (Docker image) action; OpenWhisk places these on a separate invoker share.
    public var blackbox: Bool
    /// Only this invoker may run it (empty: the broker places).
    public var targetInvoker: String
    /// The controller that receives the answer (empty in ACTIVATE: the sender).
    public var answerTo: String
    /// Tags the invoker must offer (§4.6).
    public var requiredTags: [String]
    /// Longest it may wait for room, milliseconds; 0: the broker's limit (§6.1).
    public var maxWaitMilliseconds: UInt32

    public init(
        activationID: String, namespace: String, action: String, revision: String = "",
        memoryMB: UInt32 = 256, timeLimitMilliseconds: UInt32 = 60_000, blocking: Bool = true,
        blackbox: Bool = false, targetInvoker: String = "", answerTo: String = "", requiredTags: [String] = [],
        maxWaitMilliseconds: UInt32 = 0
    ) {
        self.activationID = activationID
        self.namespace = namespace
        self.action = action
        self.revision = revision
        self.memoryMB = memoryMB
        self.timeLimitMilliseconds = timeLimitMilliseconds
        self.blocking = blocking
        self.blackbox = blackbox
        self.targetInvoker = targetInvoker
        self.answerTo = answerTo
        self.requiredTags = requiredTags
        self.maxWaitMilliseconds = maxWaitMilliseconds
    }
}

/// An invoker's HELLO (§4.1): who it is and how much it can run at once.
public struct InvokerHello: Equatable, Sendable {
    public var invokerID: String
    public var memoryMB: UInt32
    public var slots: UInt32
    public var tags: [String]
    /// Namespaces this invoker is reserved for; empty: it serves everyone (§4.1).
    public var dedicatedNamespaces: [String]

    public init(invokerID: String, memoryMB: UInt32, slots: UInt32, tags: [String] = [], dedicatedNamespaces: [String] = []) {
        self.invokerID = invokerID
        self.memoryMB = memoryMB
        self.slots = slots
        self.tags = tags
        self.dedicatedNamespaces = dedicatedNamespaces
    }
}

/// WELCOME (§4.2): the broker's reply to HELLO.
public struct Welcome: Equatable, Sendable {
    public var brokerID: String
    public var heartbeatMilliseconds: UInt32
    public var maxMessageBytes: UInt32

    public init(brokerID: String, heartbeatMilliseconds: UInt32, maxMessageBytes: UInt32) {
        self.brokerID = brokerID
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.maxMessageBytes = maxMessageBytes
    }
}

/// A broker's state in MEMBERS (§9.1).
public enum MemberState: UInt8, Sendable, CustomStringConvertible {
    /// Takes new work.
    case serving = 0
    /// Stopping: send it no new ACTIVATE; its answers still come.
    case leaving = 1

    public var description: String { self == .serving ? "serving" : "leaving" }
}

/// One broker of a cluster as MEMBERS lists it (§9.1).
public struct ClusterMember: Equatable, Sendable {
    public var brokerID: String
    /// New at every start of that broker.
    public var incarnation: UInt64
    public var state: MemberState
    public var controllerEndpoint: String
    public var invokerEndpoint: String
    /// To an invoker: the broker it must move to (§9.4); otherwise empty.
    public var moveTo: String

    public init(brokerID: String, incarnation: UInt64, state: MemberState, controllerEndpoint: String,
                invokerEndpoint: String, moveTo: String = "") {
        self.brokerID = brokerID
        self.incarnation = incarnation
        self.state = state
        self.controllerEndpoint = controllerEndpoint
        self.invokerEndpoint = invokerEndpoint
        self.moveTo = moveTo
    }
}

/// MEMBERS (§9.1): the sending broker's incarnation and the cluster's members.
public struct Members: Equatable, Sendable {
    public var incarnation: UInt64
    public var members: [ClusterMember]

    public init(incarnation: UInt64, members: [ClusterMember]) {
        self.incarnation = incarnation
        self.members = members
    }

    /// Most members one MEMBERS may list.
    public static let maxMembers = 1024
}

/// RECOVERED (§9.1): activations a restarted broker recovered and will answer, once.
public struct Recovered: Equatable, Sendable {
    public var incarnation: UInt64
    public var activationIDs: [String]

    public init(incarnation: UInt64, activationIDs: [String]) {
        self.incarnation = incarnation
        self.activationIDs = activationIDs
    }
}

/// COMPLETED (§10.1): the slot of an activation already answered was freed. A notice, not an answer.
public struct CompletedNotice: Equatable, Sendable {
    public enum Cause: Equatable, Sendable {
        /// The invoker's COMPLETION arrived.
        case completion
        /// No COMPLETION came: the invoker was lost.
        case invokerLost
        /// No COMPLETION came: the circuit breaker freed the slot.
        case timeout
    }

    public var activationID: String
    /// The invoker whose slot was freed.
    public var invokerID: String
    /// The completion's system-error flag (§4.11), or the invoker was lost.
    public var systemError: Bool
    public var cause: Cause

    public init(activationID: String, invokerID: String, systemError: Bool, cause: Cause) {
        self.activationID = activationID
        self.invokerID = invokerID
        self.systemError = systemError
        self.cause = cause
    }
}

/// INVENTORY (§10.1): the broker's invokers as it sees them now.
public struct Inventory: Equatable, Sendable {
    /// An invoker's health as INVENTORY reports it.
    public enum Health: UInt8, Equatable, Sendable, CaseIterable {
        case healthy = 0, unhealthy = 1, unresponsive = 2, draining = 3, probing = 4
    }

    public struct Entry: Equatable, Sendable {
        public var invokerID: String
        public var health: Health
        public var memoryMB: UInt32
        public var slots: UInt32
        public var usedMemoryMB: UInt32
        public var usedSlots: UInt32
        public var tags: [String]
        public var dedicatedNamespaces: [String]

        public init(invokerID: String, health: Health, memoryMB: UInt32, slots: UInt32, usedMemoryMB: UInt32, usedSlots: UInt32,
                    tags: [String] = [], dedicatedNamespaces: [String] = []) {
            self.invokerID = invokerID
            self.health = health
            self.memoryMB = memoryMB
            self.slots = slots
            self.usedMemoryMB = usedMemoryMB
            self.usedSlots = usedSlots
            self.tags = tags
            self.dedicatedNamespaces = dedicatedNamespaces
        }
    }

    /// Controller sessions connected now.
    public var controllers: UInt16
    public var invokers: [Entry]

    public init(controllers: UInt16, invokers: [Entry]) {
        self.controllers = controllers
        self.invokers = invokers
    }

    /// Most entries one INVENTORY may list (u16 count).
    public static let maxEntries = Int(UInt16.max)
}

/// The room frame a broker's HEARTBEAT carries to a cluster peer (§9.3).
public struct Room: Equatable, Sendable {
    /// Free slots on invokers that take work now.
    public var freeSlots: UInt32
    /// Activations waiting for room at this broker.
    public var waiting: UInt32
    /// Slots of the invokers that take work, used or not.
    public var slots: UInt32

    public init(freeSlots: UInt32, waiting: UInt32, slots: UInt32) {
        self.freeSlots = freeSlots
        self.waiting = waiting
        self.slots = slots
    }

    /// What a controller may send there before it hears more (free slots less waiting work).
    public var available: Int { Int(freeSlots) - Int(waiting) }
}

/// CAPACITY (§4.8): an invoker's new total capacity. Zero for both drains it.
public struct Capacity: Equatable, Sendable {
    public var memoryMB: UInt32
    public var slots: UInt32

    public init(memoryMB: UInt32, slots: UInt32) {
        self.memoryMB = memoryMB
        self.slots = slots
    }

    public var drains: Bool { memoryMB == 0 && slots == 0 }
}

/// ANSWER's header frame (§4.7).
public struct AnswerHeader: Equatable, Sendable {
    public var activationID: String
    public var kind: AnswerKind
    /// The invoker that ran the activation; empty if none did.
    public var invokerID: String
    /// Why, for failures; empty for success.
    public var reason: String

    public init(activationID: String, kind: AnswerKind, invokerID: String = "", reason: String = "") {
        self.activationID = activationID
        self.kind = kind
        self.invokerID = invokerID
        self.reason = reason
    }
}

/// RESULT's header frame (§4.10): the result arrives, the slot stays busy.
public struct ResultHeader: Equatable, Sendable {
    public var activationID: String
    public var outcome: Outcome

    public init(activationID: String, outcome: Outcome) {
        self.activationID = activationID
        self.outcome = outcome
    }
}

/// COMPLETION's header frame (§4.11): the slot is free; maybe the result too.
public struct CompletionHeader: Equatable, Sendable {
    public var activationID: String
    /// The combined form: a result frame follows and `outcome` describes it.
    public var includesResult: Bool
    /// The invoker counts this as a system error (feeds health).
    public var systemError: Bool
    public var outcome: Outcome
    /// The invoker's warm containers now (flag bit 2, §4.12).
    public var warm: WarmReport?

    public init(activationID: String, includesResult: Bool, systemError: Bool = false, outcome: Outcome = .success,
                warm: WarmReport? = nil) {
        self.activationID = activationID
        self.includesResult = includesResult
        self.systemError = systemError
        self.outcome = outcome
        self.warm = warm
    }
}

/// Which actions an invoker holds warm containers for (§4.12). Replaces the previous report.
public struct WarmReport: Equatable, Hashable, Sendable {
    public struct Entry: Equatable, Hashable, Sendable {
        public var action: String
        public var idle: UInt16
        public var total: UInt16

        public init(action: String, idle: UInt16, total: UInt16) {
            self.action = action
            self.idle = idle
            self.total = total
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry]) { self.entries = entries }

    public static let maxEntries = 4096
}

/// Which kind of peer published something (§4.14).
public enum PeerRole: UInt8, Sendable, CustomStringConvertible {
    case controller = 0
    case invoker = 1

    public var description: String { self == .controller ? "controller" : "invoker" }
}

/// A publication as the broker forwards it (§4.14): the topic and who published it.
public struct PublicationHeader: Equatable, Sendable {
    public var topic: String
    public var originRole: PeerRole
    public var originID: String

    public init(topic: String, originRole: PeerRole, originID: String) {
        self.topic = topic
        self.originRole = originRole
        self.originID = originID
    }
}

/// Topic rules (§3.2, §4.13, §4.14).
public enum Topic {
    /// Whether `value` is a valid topic prefix: 0..64 bytes of `[A-Za-z0-9._-]`.
    public static func isValidPrefix(_ value: String) -> Bool {
        value.isEmpty || isValid(value)
    }

    /// Whether `value` is a valid topic: 1..64 bytes of `[A-Za-z0-9._-]`.
    public static func isValid(_ value: String) -> Bool {
        value.utf8.count <= ProtocolConstants.maxTopicLength && Identifier.isValid(value)
    }

    /// Throws `invalidId` naming the field when `value` breaks the rule.
    public static func validate(_ value: String, field: String, prefix: Bool = false) throws(ProtocolError) {
        guard prefix ? isValidPrefix(value) : isValid(value) else {
            let shown = value.count > 40 ? String(value.prefix(40)) + "..." : value
            throw ProtocolError(.invalidID, "\(field) '\(shown)' must match [A-Za-z0-9._-]{\(prefix ? 0 : 1),64}")
        }
    }
}

/// ERROR's body (§4.5).
public struct ErrorReport: Equatable, Sendable {
    public var code: ErrorCode
    public var activationID: String
    public var reason: String

    public init(code: ErrorCode, activationID: String = "", reason: String) {
        self.code = code
        self.activationID = activationID
        self.reason = reason
    }
}

/// One decoded SLU/1 message, without its opaque payload or result frame.
///
/// The payload (ACTIVATE, DISPATCH) or result (ANSWER, RESULT, combined COMPLETION) is always
/// the message's last frame, index `Message.opaqueFrameIndex`; codecs never copy it.
public enum Message: Equatable, Sendable {
    case controllerHello(controllerID: String)
    case invokerHello(InvokerHello)
    case welcome(Welcome)
    case heartbeat
    /// An invoker's HEARTBEAT carrying a warm report (§4.3, §4.12).
    case invokerHeartbeat(WarmReport)
    case goodbye
    case error(ErrorReport)
    /// CLUSTER (§9.1): the peer takes part in a cluster.
    case cluster
    /// MEMBERS (§9.1).
    case members(Members)
    /// A broker's HEARTBEAT to a cluster peer, with its room (§9.3).
    case roomHeartbeat(Room)
    case activate(RoutingHeader)
    case answer(AnswerHeader)
    /// RECOVERED (§9.1).
    case recovered(Recovered)
    /// FOLLOW (§10.1): the controller asks for COMPLETED notices.
    case follow
    /// INVOKERS (§10.1): the controller asks for an INVENTORY.
    case invokers
    /// COMPLETED (§10.1).
    case completed(CompletedNotice)
    /// INVENTORY (§10.1).
    case inventory(Inventory)
    case capacity(Capacity)
    case dispatch(RoutingHeader)
    case result(ResultHeader)
    case completion(CompletionHeader)
    /// SUBSCRIBE (§4.13): a topic prefix, empty for every topic.
    case subscribe(prefix: String)
    /// UNSUBSCRIBE (§4.13).
    case unsubscribe(prefix: String)
    /// PUBLISH from a peer (§4.14); the payload is the opaque frame.
    case publish(topic: String)
    /// PUBLISH as the broker forwards it (§4.14); the payload is the opaque frame.
    case publication(PublicationHeader)

    /// Index of the opaque frame in the full message (signature, command, header, opaque).
    public static let opaqueFrameIndex = 3

    public var command: Command {
        switch self {
        case .controllerHello, .invokerHello: .hello
        case .welcome: .welcome
        case .heartbeat, .invokerHeartbeat, .roomHeartbeat: .heartbeat
        case .goodbye: .goodbye
        case .error: .error
        case .cluster: .cluster
        case .members: .members
        case .recovered: .recovered
        case .follow: .follow
        case .invokers: .invokers
        case .completed: .completed
        case .inventory: .inventory
        case .activate: .activate
        case .answer: .answer
        case .capacity: .capacity
        case .dispatch: .dispatch
        case .result: .result
        case .completion: .completion
        case .subscribe: .subscribe
        case .unsubscribe: .unsubscribe
        case .publish, .publication: .publish
        }
    }

    /// The activation a message is about, if it is about one.
    public var activationID: String? {
        switch self {
        case .activate(let header), .dispatch(let header): header.activationID
        case .answer(let answer): answer.activationID
        case .result(let result): result.activationID
        case .completion(let completion): completion.activationID
        default: nil
        }
    }

    /// The warm report carried after the opaque frame (COMPLETION flag bit 2), if any.
    public var trailingWarmReport: WarmReport? {
        if case .completion(let header) = self { return header.warm }
        return nil
    }

    /// Whether an opaque frame follows the header frame.
    public var hasOpaqueFrame: Bool {
        switch self {
        case .activate, .answer, .dispatch, .result, .publish, .publication: true
        case .completion(let header): header.includesResult
        default: false
        }
    }
}
