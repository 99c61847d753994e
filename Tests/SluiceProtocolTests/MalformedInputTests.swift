import Testing
import SluiceProtocol

// Malformed and invalid input (docs/PROTOCOL.md §3, §4 and §7): every row names the section
// it checks, the frames as received, the direction, the ERROR code the codec must report and,
// where §7 says so, the activation id the error must carry.
//
// The frames are built with the small byte helpers below, written from §3.2 (they never call
// the encoder). `baselineFramesDecode` checks that the unmodified helper output decodes, so
// each malformed row fails only because of the defect it names.

// MARK: - Byte helpers (§3.2 field encodings)

/// §3.1 signature frame: "SLU" + version 1.
private let sig: [UInt8] = [0x53, 0x4C, 0x55, 0x01]

private func ascii(_ string: String) -> [UInt8] { Array(string.utf8) }

/// short-string: u8 length, then the bytes.
private func shortBytes(_ bytes: [UInt8]) -> [UInt8] {
    precondition(bytes.count <= 255)
    return [UInt8(bytes.count)] + bytes
}

private func short(_ string: String) -> [UInt8] { shortBytes(ascii(string)) }

/// long-string: u16 big-endian length, then the bytes.
private func longBytes(_ bytes: [UInt8]) -> [UInt8] {
    precondition(bytes.count <= 65535)
    return [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
}

private func long(_ string: String) -> [UInt8] { longBytes(ascii(string)) }

/// u32 big-endian.
private func u32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

private func u64(_ value: UInt64) -> [UInt8] {
    u32(UInt32(value >> 32)) + u32(UInt32(value & 0xFFFF_FFFF))
}

/// §4.6 routing header; the defaults form a valid header for activation "a1".
private func routingHeader(
    id: [UInt8] = short("a1"),
    namespace: [UInt8] = short("guest"),
    action: [UInt8] = long("guest/hello"),
    revision: [UInt8] = short(""),
    memory: [UInt8] = u32(256),
    timeLimit: [UInt8] = u32(1000),
    flags: UInt8 = 0x01,
    target: [UInt8] = short(""),
    answerTo: [UInt8] = short(""),
    requiredTags: [UInt8] = [0x00],
    maxWait: [UInt8] = [0, 0, 0, 0]
) -> [UInt8] {
    id + namespace + action + revision + memory + timeLimit + [flags] + target + answerTo + requiredTags + maxWait
}

/// A complete ACTIVATE (§4.6) with the given routing header frame.
private func activate(_ header: [UInt8] = routingHeader()) -> [[UInt8]] {
    [sig, [0x10], header, [0x7B, 0x7D]]
}

/// §4.1 invoker HELLO body; the defaults form a valid body.
private func invokerHello(
    id: [UInt8] = short("inv-1"), memory: [UInt8] = u32(1024), slots: [UInt8] = u32(4),
    tagCount: UInt8? = nil, tags: [[UInt8]] = [], dedicated: [UInt8] = [0x00]
) -> [UInt8] {
    id + memory + slots + [tagCount ?? UInt8(tags.count)] + tags.flatMap { $0 } + dedicated
}

/// §4.7 ANSWER header frame.
private func answerHeader(id: [UInt8] = short("act.01"), kind: UInt8 = 0x00, invoker: [UInt8] = short(""),
                          reason: [UInt8] = long("")) -> [UInt8] {
    id + [kind] + invoker + reason
}

/// §4.11 COMPLETION header frame.
private func completionHeader(id: [UInt8] = short("act.01"), flags: UInt8, outcome: UInt8) -> [UInt8] {
    id + [flags, outcome]
}

private let a129 = String(repeating: "a", count: 129)
private let a128 = String(repeating: "a", count: 128)

// MARK: - Table

/// What a row expects of `ProtocolError.activationID`.
enum ExpectedActivationID: Sendable, CustomStringConvertible {
    /// No activation id could be read (or the message is not about one): nil.
    case none
    /// The activation id was read before the problem; the error carries it (§7, §4.5).
    case carried(String)
    /// The spec does not say; not checked.
    case unspecified

    var description: String {
        switch self {
        case .none: "none"
        case .carried(let id): "carried(\(id))"
        case .unspecified: "unspecified"
        }
    }
}

struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let frames: [[UInt8]]
    let channel: Channel
    let code: ErrorCode
    let activationID: ExpectedActivationID

    init(_ name: String, _ frames: [[UInt8]], _ channel: Channel, _ code: ErrorCode,
         activationID: ExpectedActivationID = .none) {
        self.name = name
        self.frames = frames
        self.channel = channel
        self.code = code
        self.activationID = activationID
    }

    var testDescription: String { name }
}

let malformedCases: [MalformedCase] = [
    // §3.1 framing
    MalformedCase("§3.1 no frames", [], .controllerToBroker, .malformed),
    MalformedCase("§3.1 one frame (signature only)", [sig], .invokerToBroker, .malformed),
    MalformedCase("§3.1 bad signature 'SLV'", [[0x53, 0x4C, 0x56, 0x01], [0x03]], .controllerToBroker, .badSignature),
    MalformedCase("§3.1 bad signature lowercase 'slu'", [[0x73, 0x6C, 0x75, 0x01], [0x03]], .invokerToBroker, .badSignature),
    MalformedCase("§3.1 bad signature: empty first frame", [[], [0x03]], .controllerToBroker, .badSignature),
    MalformedCase("§3.1 bad signature: 'SLU' without version byte", [[0x53, 0x4C, 0x55], [0x03]], .controllerToBroker, .badSignature),
    MalformedCase("§3.1 bad signature: command frame first", [[0x03], sig], .invokerToBroker, .badSignature),
    MalformedCase("§3.1 wrong version SLU+0x02 -> badVersion", [[0x53, 0x4C, 0x55, 0x02], [0x03]], .controllerToBroker, .badVersion),
    MalformedCase("§3.1 wrong version SLU+0x00 -> badVersion", [[0x53, 0x4C, 0x55, 0x00], [0x03]], .invokerToBroker, .badVersion),
    MalformedCase("§3.1 wrong version SLU+0x02 on an otherwise valid ACTIVATE",
                  [[0x53, 0x4C, 0x55, 0x02], [0x10], routingHeader(), [0x7B, 0x7D]], .controllerToBroker, .badVersion),
    MalformedCase("§3.1 command frame of 2 bytes", [sig, [0x03, 0x03]], .controllerToBroker, .malformed),
    MalformedCase("§3.1 empty command frame", [sig, []], .invokerToBroker, .malformed),

    // §4 command table
    MalformedCase("§4 unknown command byte 0x7F", [sig, [0x7F]], .controllerToBroker, .unknownCommand),
    MalformedCase("§4 unknown command byte 0x00", [sig, [0x00]], .invokerToBroker, .unknownCommand),
    MalformedCase("§4 unknown command byte 0x0A", [sig, [0x0A]], .brokerToController, .unknownCommand),
    MalformedCase("§10.1 FOLLOW from the broker", [sig, [0x08]], .brokerToController, .unexpectedCommand),
    MalformedCase("§10.1 FOLLOW from an invoker", [sig, [0x08]], .invokerToBroker, .unexpectedCommand),
    MalformedCase("§10.1 FOLLOW with a body frame", [sig, [0x08], [0x00]], .controllerToBroker, .malformed),
    MalformedCase("§10.1 INVOKERS with a body frame", [sig, [0x09], [0x00]], .controllerToBroker, .malformed),
    MalformedCase("§10.1 COMPLETED to an invoker", [sig, [0x13], [0x01, 0x61, 0x01, 0x69, 0x00]], .brokerToInvoker, .unexpectedCommand),
    MalformedCase("§10.1 COMPLETED with both no-completion causes", [sig, [0x13], [0x01, 0x61, 0x01, 0x69, 0x06]], .brokerToController, .malformed),
    MalformedCase("§10.1 COMPLETED with a reserved flag bit", [sig, [0x13], [0x01, 0x61, 0x01, 0x69, 0x08]], .brokerToController, .malformed),
    MalformedCase("§10.1 COMPLETED without its invoker id", [sig, [0x13], [0x01, 0x61]], .brokerToController, .malformed),
    MalformedCase("§10.1 INVENTORY with an unknown health", [sig, [0x14], [0x00, 0x01, 0x00, 0x01, 0x01, 0x69, 0x09] + u32(1) + u32(1) + u32(0) + u32(0) + [0x00, 0x00]],
                  .brokerToController, .malformed),
    MalformedCase("§10.1 INVENTORY counting more invokers than it holds", [sig, [0x14], [0x00, 0x01, 0x00, 0x05]], .brokerToController, .malformed),
    MalformedCase("§9.1 CLUSTER with a body frame", [sig, [0x06], [0x00]], .controllerToBroker, .malformed),
    MalformedCase("§9.1 CLUSTER from the broker", [sig, [0x06]], .brokerToController, .unexpectedCommand),
    MalformedCase("§9.1 MEMBERS to the broker", [sig, [0x07], u64(1) + [0x00, 0x00]], .controllerToBroker, .unexpectedCommand),
    MalformedCase("§9.1 MEMBERS without its frame", [sig, [0x07]], .brokerToController, .malformed),
    MalformedCase("§9.1 MEMBERS truncated in its incarnation", [sig, [0x07], [0x00, 0x01]], .brokerToController, .malformed),
    MalformedCase("§9.1 MEMBERS with an unknown state", [sig, [0x07], u64(1) + [0x00, 0x01] + [0x01, 0x62] + u64(2) + [0x02, 0x00, 0x00, 0x00]],
                  .brokerToController, .malformed),
    MalformedCase("§9.1 MEMBERS with surplus bytes", [sig, [0x07], u64(1) + [0x00, 0x00, 0xFF]], .brokerToInvoker, .malformed),
    MalformedCase("§9.1 RECOVERED to an invoker", [sig, [0x12], u64(1) + u32(0)], .brokerToInvoker, .unexpectedCommand),
    MalformedCase("§9.1 RECOVERED counting more ids than it holds", [sig, [0x12], u64(1) + u32(1_000_000) + [0x01, 0x61]],
                  .brokerToController, .malformed),
    MalformedCase("§9.3 HEARTBEAT room truncated", [sig, [0x03], u32(4) + u32(0)], .brokerToController, .malformed),
    MalformedCase("§4 unknown command byte 0x24", [sig, [0x24]], .brokerToInvoker, .unknownCommand),
    MalformedCase("§4 unknown command byte 0xFF", [sig, [0xFF]], .invokerToBroker, .unknownCommand),
    MalformedCase("§4 DISPATCH sent controllerToBroker -> unexpectedCommand",
                  [sig, [0x21], routingHeader(answerTo: short("ctl0")), [0x7B, 0x7D]], .controllerToBroker, .unexpectedCommand),
    MalformedCase("§4 ACTIVATE sent invokerToBroker -> unexpectedCommand", activate(), .invokerToBroker, .unexpectedCommand),
    MalformedCase("§4 ACTIVATE sent brokerToInvoker -> unexpectedCommand", activate(), .brokerToInvoker, .unexpectedCommand),
    MalformedCase("§4 ANSWER sent controllerToBroker -> unexpectedCommand",
                  [sig, [0x11], answerHeader(), []], .controllerToBroker, .unexpectedCommand),
    MalformedCase("§4 CAPACITY sent controllerToBroker -> unexpectedCommand",
                  [sig, [0x20], u32(1) + u32(1)], .controllerToBroker, .unexpectedCommand),
    MalformedCase("§4 RESULT sent brokerToInvoker -> unexpectedCommand",
                  [sig, [0x22], short("r1") + [0x00], []], .brokerToInvoker, .unexpectedCommand),
    MalformedCase("§4 HELLO sent brokerToController -> unexpectedCommand",
                  [sig, [0x01], short("ctl0")], .brokerToController, .unexpectedCommand),
    MalformedCase("§4 WELCOME sent controllerToBroker -> unexpectedCommand",
                  [sig, [0x02], short("b") + u32(1000) + u32(1000)], .controllerToBroker, .unexpectedCommand),
    MalformedCase("§4.5 ERROR sent by an invoker -> unexpectedCommand",
                  [sig, [0x05], [0x00, 0x05, 0x00, 0x00, 0x00]], .invokerToBroker, .unexpectedCommand),

    // §3.1 / §4.x frame counts
    MalformedCase("§4.6 ACTIVATE with 3 frames (payload missing)", [sig, [0x10], routingHeader()], .controllerToBroker,
                  .malformed, activationID: .unspecified),
    MalformedCase("§4.6 ACTIVATE with 5 frames", activate() + [[]], .controllerToBroker, .malformed, activationID: .unspecified),
    MalformedCase("§4.6 ACTIVATE with 2 frames", [sig, [0x10]], .controllerToBroker, .malformed),
    MalformedCase("§4.3 HEARTBEAT with 3 frames", [sig, [0x03], []], .controllerToBroker, .malformed),
    // §4.12 broken warm reports: each action once, total >= 1, idle <= total.
    MalformedCase("§4.12 warm report lists one action twice",
                  [sig, [0x03], [0x00, 0x02] + long("guest/a") + [0, 1, 0, 1] + long("guest/a") + [0, 0, 0, 1]],
                  .invokerToBroker, .malformed),
    MalformedCase("§4.12 warm report entry with idle > total",
                  [sig, [0x03], [0x00, 0x01] + long("guest/a") + [0, 2, 0, 1]], .invokerToBroker, .malformed),
    MalformedCase("§4.12 warm report entry with total 0",
                  [sig, [0x03], [0x00, 0x01] + long("guest/a") + [0, 0, 0, 0]], .invokerToBroker, .malformed),
    MalformedCase("§4.4 GOODBYE with 3 frames", [sig, [0x04], [0x00]], .invokerToBroker, .malformed),
    MalformedCase("§4.1 HELLO without its body frame", [sig, [0x01]], .controllerToBroker, .malformed),
    MalformedCase("§4.1 HELLO with 4 frames", [sig, [0x01], short("ctl0"), []], .controllerToBroker, .malformed),
    MalformedCase("§4.2 WELCOME without its body frame", [sig, [0x02]], .brokerToInvoker, .malformed),
    MalformedCase("§4.5 ERROR with 4 frames", [sig, [0x05], [0x00, 0x05, 0x00, 0x00, 0x00], []], .brokerToController, .malformed),
    MalformedCase("§4.7 ANSWER with 3 frames (result frame missing)", [sig, [0x11], answerHeader()], .brokerToController,
                  .malformed, activationID: .unspecified),
    MalformedCase("§4.8 CAPACITY with 4 frames", [sig, [0x20], u32(1) + u32(1), []], .invokerToBroker, .malformed),
    MalformedCase("§4.9 DISPATCH with 3 frames", [sig, [0x21], routingHeader(answerTo: short("ctl0"))], .brokerToInvoker,
                  .malformed, activationID: .unspecified),
    MalformedCase("§4.10 RESULT with 3 frames (result frame missing)", [sig, [0x22], short("r1") + [0x00]], .invokerToBroker,
                  .malformed, activationID: .unspecified),
    MalformedCase("§4.11 COMPLETION with 2 frames", [sig, [0x23]], .invokerToBroker, .malformed),
    MalformedCase("§4.11 COMPLETION flag bit0 set but only 3 frames",
                  [sig, [0x23], completionHeader(flags: 0x01, outcome: 0x00)], .invokerToBroker,
                  .malformed, activationID: .carried("act.01")),
    MalformedCase("§4.11 COMPLETION flag bit0 set with 5 frames",
                  [sig, [0x23], completionHeader(flags: 0x01, outcome: 0x00), [], []], .invokerToBroker,
                  .malformed, activationID: .carried("act.01")),
    MalformedCase("§4.11 COMPLETION flag bit0 clear but a result frame follows",
                  [sig, [0x23], completionHeader(flags: 0x00, outcome: 0x00), []], .invokerToBroker,
                  .malformed, activationID: .carried("act.01")),

    // §3.2 field encodings
    MalformedCase("§3.2 truncated string: id length prefix claims 5 bytes, 3 present",
                  [sig, [0x01], [0x05, 0x61, 0x62, 0x63]], .controllerToBroker, .malformed),
    MalformedCase("§3.2 truncated: HELLO body frame empty (no length prefix)", [sig, [0x01], []], .controllerToBroker, .malformed),
    MalformedCase("§3.2 truncated long-string length prefix (ERROR reason has 1 of 2 bytes)",
                  [sig, [0x05], [0x00, 0x07, 0x00, 0x00]], .brokerToController, .malformed),
    MalformedCase("§3.2 truncated string: ACTIVATE action claims 11 bytes, 3 present",
                  activate(short("a1") + short("guest") + [0x00, 0x0B] + ascii("gue")), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§3.2 truncated u32 (CAPACITY body of 7 bytes)", [sig, [0x20], [0, 0, 0, 1, 0, 0, 0]], .invokerToBroker, .malformed),
    MalformedCase("§3.2 truncated WELCOME (max-message missing)",
                  [sig, [0x02], short("sluice") + u32(1000)], .brokerToInvoker, .malformed),
    MalformedCase("§3.2 surplus byte after last field (CAPACITY)",
                  [sig, [0x20], u32(1) + u32(1) + [0x00]], .invokerToBroker, .malformed),
    MalformedCase("§3.2 surplus byte after last field (controller HELLO)",
                  [sig, [0x01], short("ctl0") + [0x00]], .controllerToBroker, .malformed),
    MalformedCase("§3.2 surplus bytes after last field (WELCOME)",
                  [sig, [0x02], short("sluice") + u32(1000) + u32(1000) + [0x00, 0x00]], .brokerToController, .malformed),
    MalformedCase("§3.2 surplus byte after last field (ACTIVATE routing header)",
                  activate(routingHeader() + [0x00]), .controllerToBroker, .malformed, activationID: .carried("a1")),
    MalformedCase("§3.2 invalid UTF-8 in namespace (C3 28)",
                  activate(routingHeader(namespace: shortBytes([0xC3, 0x28]))), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§3.2 invalid UTF-8 in namespace (FF)",
                  activate(routingHeader(namespace: shortBytes([0x67, 0xFF]))), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§3.2 invalid UTF-8 in ERROR reason",
                  [sig, [0x05], [0x00, 0x05, 0x00, 0x00, 0x01, 0xFF]], .brokerToController, .malformed),
    MalformedCase("§3.2 invalid UTF-8 in invoker HELLO tag",
                  [sig, [0x01], invokerHello(tags: [shortBytes([0xE2, 0x82])])], .invokerToBroker, .malformed),

    // §3.2 identifiers
    MalformedCase("§3.2 id with a space (controller HELLO) -> invalidId", [sig, [0x01], short("ctl 0")], .controllerToBroker, .invalidID),
    MalformedCase("§3.2 id with a '/' (ACTIVATE activation id) -> invalidId",
                  activate(routingHeader(id: short("act/01"))), .controllerToBroker, .invalidID),
    MalformedCase("§3.2 id of 129 chars (invoker HELLO) -> invalidId",
                  [sig, [0x01], invokerHello(id: short(a129))], .invokerToBroker, .invalidID),
    MalformedCase("§3.2 id of 129 chars (controller HELLO) -> invalidId", [sig, [0x01], short(a129)], .controllerToBroker, .invalidID),
    MalformedCase("§3.2 empty controller id -> invalidId", [sig, [0x01], [0x00]], .controllerToBroker, .invalidID),
    MalformedCase("§3.2 empty invoker id -> invalidId", [sig, [0x01], invokerHello(id: [0x00])], .invokerToBroker, .invalidID),
    MalformedCase("§3.2 non-ASCII id 'ctl-é' -> invalidId", [sig, [0x01], short("ctl-é")], .controllerToBroker, .invalidID),
    MalformedCase("§3.2 empty broker id (WELCOME) -> invalidId",
                  [sig, [0x02], [0x00] + u32(1000) + u32(1000)], .brokerToController, .invalidID),
    MalformedCase("§3.2 empty activation id (RESULT) -> invalidId", [sig, [0x22], [0x00, 0x00], []], .invokerToBroker, .invalidID),
    MalformedCase("§3.2 id with ':' (COMPLETION) -> invalidId",
                  [sig, [0x23], completionHeader(id: short("a:1"), flags: 0x00, outcome: 0x00)], .invokerToBroker, .invalidID),
    MalformedCase("§3.2 empty activation id (ACTIVATE) -> invalidId",
                  activate(routingHeader(id: [0x00])), .controllerToBroker, .invalidID),
    MalformedCase("§3.2 target-invoker with a space (ACTIVATE) -> invalidId",
                  activate(routingHeader(target: short("inv 1"))), .controllerToBroker, .invalidID, activationID: .carried("a1")),
    MalformedCase("§3.2 answer-to of 129 chars (ACTIVATE) -> invalidId",
                  activate(routingHeader(answerTo: short(a129))), .controllerToBroker, .invalidID, activationID: .carried("a1")),
    MalformedCase("§3.2 invoker-ref with '/' (ANSWER) -> invalidId",
                  [sig, [0x11], answerHeader(invoker: short("inv/1")), []], .brokerToController, .invalidID,
                  activationID: .unspecified),

    // §4.6 ACTIVATE routing header rules (activation id read first, so §7 carries it)
    MalformedCase("§4.6 ACTIVATE reserved flag bit 2", activate(routingHeader(flags: 0x04)), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE reserved flag bit 7 (with blocking)", activate(routingHeader(flags: 0x81)), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE memory-mb 0", activate(routingHeader(memory: u32(0))), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE time-limit-ms 0", activate(routingHeader(timeLimit: u32(0))), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE action of 1025 bytes -> oversize",
                  activate(routingHeader(action: long("guest/" + String(repeating: "a", count: 1019)))), .controllerToBroker,
                  .oversize, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE empty action", activate(routingHeader(action: long(""))), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE empty namespace", activate(routingHeader(namespace: short(""))), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE namespace with a control character (LF)",
                  activate(routingHeader(namespace: short("gu\nest"))), .controllerToBroker,
                  .malformed, activationID: .carried("a1")),
    MalformedCase("§4.6 ACTIVATE header cut after flags (target-invoker, answer-to missing)",
                  activate(short("a1") + short("guest") + long("guest/hello") + short("") + u32(256) + u32(1000) + [0x01]),
                  .controllerToBroker, .malformed, activationID: .carried("a1")),

    // §4.1 HELLO (invoker)
    MalformedCase("§4.1 invoker HELLO with 33 tags -> oversize",
                  [sig, [0x01], invokerHello(tags: (0..<33).map { short("t\($0)") })], .invokerToBroker, .oversize),
    MalformedCase("§4.1 invoker HELLO tag of 65 bytes -> oversize",
                  [sig, [0x01], invokerHello(tags: [short(String(repeating: "t", count: 65))])], .invokerToBroker, .oversize),
    MalformedCase("§4.1 invoker HELLO slots 0", [sig, [0x01], invokerHello(slots: u32(0))], .invokerToBroker, .malformed),
    MalformedCase("§4.1 invoker HELLO memory-mb 0", [sig, [0x01], invokerHello(memory: u32(0))], .invokerToBroker, .malformed),
    MalformedCase("§4.1 invoker HELLO tag-count 2 with one tag",
                  [sig, [0x01], invokerHello(tagCount: 2, tags: [short("gpu")])], .invokerToBroker, .malformed),
    MalformedCase("§4.1 invoker HELLO tag-count missing",
                  [sig, [0x01], short("inv-1") + u32(1024) + u32(4)], .invokerToBroker, .malformed),

    // §4.8 CAPACITY
    MalformedCase("§4.8 CAPACITY 0/5 (memory 0, slots 5)", [sig, [0x20], u32(0) + u32(5)], .invokerToBroker, .malformed),
    MalformedCase("§4.8 CAPACITY 5/0 (memory 5, slots 0)", [sig, [0x20], u32(5) + u32(0)], .invokerToBroker, .malformed),

    // §4.10 RESULT
    MalformedCase("§4.10 RESULT outcome 9", [sig, [0x22], short("r1") + [0x09], []], .invokerToBroker,
                  .malformed, activationID: .carried("r1")),
    MalformedCase("§4.10 RESULT outcome 3", [sig, [0x22], short("r1") + [0x03], []], .invokerToBroker,
                  .malformed, activationID: .carried("r1")),
    // §4.5: the id is carried whatever is wrong after it (issue 13 item 18).
    MalformedCase("§4.5 RESULT without its result frame", [sig, [0x22], short("r1") + [0x00]], .invokerToBroker,
                  .malformed, activationID: .carried("r1")),
    MalformedCase("§4.5 RESULT header cut after the id", [sig, [0x22], short("r1"), []], .invokerToBroker,
                  .malformed, activationID: .carried("r1")),
    MalformedCase("§4.5 RESULT header with surplus bytes", [sig, [0x22], short("r1") + [0x00, 0x00], []], .invokerToBroker,
                  .malformed, activationID: .carried("r1")),
    MalformedCase("§4.5 COMPLETION header cut after the id", [sig, [0x23], short("c1")], .invokerToBroker,
                  .malformed, activationID: .carried("c1")),
    MalformedCase("§4.5 COMPLETION header with surplus bytes", [sig, [0x23], short("c1") + [0x00, 0x00, 0x00]], .invokerToBroker,
                  .malformed, activationID: .carried("c1")),
    // §4.1: a HELLO on the other role's endpoint is decoded as that endpoint's HELLO, and fails.
    MalformedCase("§4.1 invoker HELLO on the controller endpoint",
                  [sig, [0x01], invokerHello()], .controllerToBroker, .malformed),
    MalformedCase("§4.1 controller HELLO on the invoker endpoint",
                  [sig, [0x01], short("ctl-1")], .invokerToBroker, .malformed),

    // §4.11 COMPLETION
    MalformedCase("§4.11 COMPLETION without result but outcome 1",
                  [sig, [0x23], completionHeader(flags: 0x00, outcome: 0x01)], .invokerToBroker,
                  .malformed, activationID: .carried("act.01")),
    MalformedCase("§4.11 COMPLETION without result, system-error flag, outcome 2",
                  [sig, [0x23], completionHeader(flags: 0x02, outcome: 0x02)], .invokerToBroker,
                  .malformed, activationID: .carried("act.01")),
    MalformedCase("§4.11 COMPLETION reserved flag bit 2",
                  [sig, [0x23], completionHeader(flags: 0x04, outcome: 0x00)], .invokerToBroker,
                  .malformed, activationID: .carried("act.01")),
    MalformedCase("§4.11 COMPLETION combined with outcome 3",
                  [sig, [0x23], completionHeader(flags: 0x01, outcome: 0x03), []], .invokerToBroker,
                  .malformed, activationID: .carried("act.01")),

    // §4.13 / §4.14 SUBSCRIBE, UNSUBSCRIBE, PUBLISH
    MalformedCase("§4.13 SUBSCRIBE prefix of 65 bytes",
                  [sig, [0x30], short(String(repeating: "t", count: 65))], .controllerToBroker, .invalidID),
    MalformedCase("§4.13 SUBSCRIBE prefix with a space",
                  [sig, [0x30], short("cache invalidation")], .invokerToBroker, .invalidID),
    MalformedCase("§4.13 UNSUBSCRIBE without its frame", [sig, [0x31]], .controllerToBroker, .malformed),
    MalformedCase("§4.13 SUBSCRIBE with surplus bytes", [sig, [0x30], short("a") + [0x00]], .controllerToBroker, .malformed),
    MalformedCase("§4.14 PUBLISH empty topic", [sig, [0x32], short(""), []], .controllerToBroker, .invalidID),
    MalformedCase("§4.14 PUBLISH without its payload frame", [sig, [0x32], short("events")], .invokerToBroker, .malformed),
    MalformedCase("§4.14 PUBLISH with an extra frame", [sig, [0x32], short("events"), [], []], .controllerToBroker, .malformed),
    MalformedCase("§4.14 PUBLISH peer header carrying an origin", [sig, [0x32], short("events") + [0x00] + short("c1"), []],
                  .controllerToBroker, .malformed),
    MalformedCase("§4.14 publication origin-role 2", [sig, [0x32], short("events") + [0x02] + short("c1"), []],
                  .brokerToController, .malformed),
    MalformedCase("§4.14 publication without origin", [sig, [0x32], short("events"), []], .brokerToInvoker, .malformed),

    // §4.7 / §6.2 ANSWER
    MalformedCase("§9.2 ANSWER kind 9 brokerLost is never sent by a broker",
                  [sig, [0x11], answerHeader(kind: 0x09), []], .brokerToController,
                  .malformed, activationID: .carried("act.01")),
    MalformedCase("§4.7/§6.2 ANSWER unknown kind 10 (brokerToController)",
                  [sig, [0x11], answerHeader(kind: 0x0A), []], .brokerToController,
                  .malformed, activationID: .carried("act.01")),
    MalformedCase("§4.7/§6.2 ANSWER unknown kind 0xFF (brokerToController)",
                  [sig, [0x11], answerHeader(kind: 0xFF, reason: long("?")), [0x7B, 0x7D]], .brokerToController,
                  .malformed, activationID: .carried("act.01")),
]

/// Valid messages built by the same helpers: each malformed row above differs from one of
/// these only in its named defect. Also covers the boundaries just inside each limit.
struct BaselineCase: Sendable, CustomTestStringConvertible {
    let name: String
    let frames: [[UInt8]]
    let channel: Channel
    var testDescription: String { name }
}

let baselineCases: [BaselineCase] = [
    BaselineCase(name: "§4.6 ACTIVATE baseline", frames: activate(), channel: .controllerToBroker),
    BaselineCase(name: "§4.9 DISPATCH baseline", frames: [sig, [0x21], routingHeader(answerTo: short("ctl0")), [0x7B, 0x7D]],
                 channel: .brokerToInvoker),
    BaselineCase(name: "§4.6 ACTIVATE action of exactly 1024 bytes",
                 frames: activate(routingHeader(action: long("guest/" + String(repeating: "a", count: 1018)))),
                 channel: .controllerToBroker),
    BaselineCase(name: "§4.6 ACTIVATE namespace of 255 bytes",
                 frames: activate(routingHeader(namespace: short(String(repeating: "n", count: 255)))),
                 channel: .controllerToBroker),
    BaselineCase(name: "§4.6 ACTIVATE non-ASCII namespace 'gäst'",
                 frames: activate(routingHeader(namespace: short("gäst"))), channel: .controllerToBroker),
    BaselineCase(name: "§4.6 ACTIVATE flags 0x03, target and answer-to of 128 chars",
                 frames: activate(routingHeader(flags: 0x03, target: short(a128), answerTo: short(a128))),
                 channel: .controllerToBroker),
    BaselineCase(name: "§3.2 activation id of 128 chars",
                 frames: activate(routingHeader(id: short(a128))), channel: .controllerToBroker),
    BaselineCase(name: "§4.1 controller HELLO", frames: [sig, [0x01], short("ctl0")], channel: .controllerToBroker),
    BaselineCase(name: "§3.2 controller id of 128 chars", frames: [sig, [0x01], short(a128)], channel: .controllerToBroker),
    BaselineCase(name: "§4.1 invoker HELLO baseline", frames: [sig, [0x01], invokerHello()], channel: .invokerToBroker),
    BaselineCase(name: "§4.1 invoker HELLO with 32 tags",
                 frames: [sig, [0x01], invokerHello(tags: (0..<32).map { short("t\($0)") })], channel: .invokerToBroker),
    BaselineCase(name: "§4.1 invoker HELLO tag of 64 bytes",
                 frames: [sig, [0x01], invokerHello(tags: [short(String(repeating: "t", count: 64))])], channel: .invokerToBroker),
    BaselineCase(name: "§4.2 WELCOME baseline", frames: [sig, [0x02], short("sluice") + u32(1000) + u32(1000)],
                 channel: .brokerToController),
    BaselineCase(name: "§4.5 ERROR baseline", frames: [sig, [0x05], [0x00, 0x05, 0x00, 0x00, 0x00]], channel: .brokerToInvoker),
    BaselineCase(name: "§4.7 ANSWER baseline", frames: [sig, [0x11], answerHeader(), []], channel: .brokerToController),
    BaselineCase(name: "§4.7 ANSWER kind 8 (rejected)", frames: [sig, [0x11], answerHeader(kind: 0x08, reason: long("bad")), []],
                 channel: .brokerToController),
    BaselineCase(name: "§4.8 CAPACITY 1/1", frames: [sig, [0x20], u32(1) + u32(1)], channel: .invokerToBroker),
    BaselineCase(name: "§4.10 RESULT outcome 2", frames: [sig, [0x22], short("r1") + [0x02], []], channel: .invokerToBroker),
    BaselineCase(name: "§4.11 COMPLETION without result",
                 frames: [sig, [0x23], completionHeader(flags: 0x00, outcome: 0x00)], channel: .invokerToBroker),
    BaselineCase(name: "§4.11 COMPLETION without result, system-error flag",
                 frames: [sig, [0x23], completionHeader(flags: 0x02, outcome: 0x00)], channel: .invokerToBroker),
    BaselineCase(name: "§4.13 SUBSCRIBE empty prefix (every topic)", frames: [sig, [0x30], short("")], channel: .controllerToBroker),
    BaselineCase(name: "§4.13 SUBSCRIBE prefix of 64 bytes", frames: [sig, [0x30], short(String(repeating: "t", count: 64))],
                 channel: .invokerToBroker),
    BaselineCase(name: "§4.14 PUBLISH topic of 64 bytes", frames: [sig, [0x32], short(String(repeating: "t", count: 64)), []],
                 channel: .controllerToBroker),
    BaselineCase(name: "§4.11 COMPLETION combined, outcome 1",
                 frames: [sig, [0x23], completionHeader(flags: 0x01, outcome: 0x01), []], channel: .invokerToBroker),
]

// MARK: - Tests

/// The §4 command table, written out from the spec: command byte -> directions allowed.
private let specDirections: [UInt8: Set<Channel>] = [
    0x01: [.controllerToBroker, .invokerToBroker],                                        // HELLO
    0x02: [.brokerToController, .brokerToInvoker],                                        // WELCOME
    0x03: [.controllerToBroker, .brokerToController, .invokerToBroker, .brokerToInvoker], // HEARTBEAT
    0x04: [.controllerToBroker, .invokerToBroker],                                        // GOODBYE
    0x05: [.brokerToController, .brokerToInvoker],                                        // ERROR
    0x06: [.controllerToBroker, .invokerToBroker],                                        // CLUSTER (§9.1)
    0x07: [.brokerToController, .brokerToInvoker],                                        // MEMBERS (§9.1)
    0x08: [.controllerToBroker],                                                          // FOLLOW (§10.1)
    0x09: [.controllerToBroker],                                                          // INVOKERS (§10.1)
    0x10: [.controllerToBroker],                                                          // ACTIVATE
    0x11: [.brokerToController],                                                          // ANSWER
    0x12: [.brokerToController],                                                          // RECOVERED (§9.1)
    0x13: [.brokerToController],                                                          // COMPLETED (§10.1)
    0x14: [.brokerToController],                                                          // INVENTORY (§10.1)
    0x20: [.invokerToBroker],                                                             // CAPACITY
    0x21: [.brokerToInvoker],                                                             // DISPATCH
    0x22: [.invokerToBroker],                                                             // RESULT
    0x23: [.invokerToBroker],                                                             // COMPLETION
    0x30: [.controllerToBroker, .invokerToBroker],                                        // SUBSCRIBE
    0x31: [.controllerToBroker, .invokerToBroker],                                        // UNSUBSCRIBE
    0x32: [.controllerToBroker, .brokerToController, .invokerToBroker, .brokerToInvoker], // PUBLISH
]

@Suite("SLU/1 malformed input (§3, §4, §7)")
struct MalformedInputTests {
    @Test("§7 malformed input is refused with the right code", arguments: malformedCases)
    func refused(_ row: MalformedCase) {
        let error = #expect(throws: ProtocolError.self, "\(row.name) must not decode") {
            try Codec.decode(row.frames, channel: row.channel)
        }
        guard let error else { return }
        #expect(error.code == row.code, "\(row.name): got \(error)")
        switch row.activationID {
        case .none:
            #expect(error.activationID == nil, "\(row.name): \(error)")
        case .carried(let id):
            #expect(error.activationID == id, "\(row.name): \(error)")
        case .unspecified:
            break
        }
    }

    @Test("§7 a header cut off before its tag count names that field in the reason")
    func truncatedCountIsNamed() {
        let header = Array(routingHeader().dropLast(5))  // no tag count, no max-wait
        let error = #expect(throws: ProtocolError.self) { try Codec.decode(activate(header), channel: .controllerToBroker) }
        #expect(error?.code == .malformed)
        #expect(error?.reason.contains("'required tag count'") == true, "\(String(describing: error))")
        #expect(error?.activationID == "a1")
        let hello = Array(invokerHello().dropLast(2))  // no tag count, no dedicated count
        let helloError = #expect(throws: ProtocolError.self) { try Codec.decode([sig, [0x01], hello], channel: .invokerToBroker) }
        #expect(helloError?.reason.contains("'tag count'") == true, "\(String(describing: helloError))")
    }

    @Test("baseline frames built by the helpers decode", arguments: baselineCases)
    func baselineFramesDecode(_ row: BaselineCase) {
        #expect(throws: Never.self, "\(row.name)") {
            try Codec.decode(row.frames, channel: row.channel)
        }
    }

    @Test("§4.1 invoker HELLO 0/0 decodes as a drained registration; 0/4 and 1024/0 stay malformed")
    func helloDrained() throws {
        let drained = try Codec.decode([sig, [0x01], invokerHello(memory: u32(0), slots: u32(0))], channel: .invokerToBroker)
        #expect(drained == .invokerHello(InvokerHello(invokerID: "inv-1", memoryMB: 0, slots: 0)))
        for (memory, slots) in [(UInt32(0), UInt32(4)), (1024, 0)] {
            #expect(throws: ProtocolError.self, "\(memory)/\(slots)") {
                try Codec.decode([sig, [0x01], invokerHello(memory: u32(memory), slots: u32(slots))], channel: .invokerToBroker)
            }
        }
    }

    @Test("§4.8 CAPACITY 0/0 decodes as drain while 0/5 is malformed")
    func capacityDrain() throws {
        let drain = try Codec.decode([sig, [0x20], u32(0) + u32(0)], channel: .invokerToBroker)
        #expect(drain == .capacity(Capacity(memoryMB: 0, slots: 0)))
        guard case .capacity(let capacity) = drain else {
            Issue.record("expected CAPACITY, got \(drain)")
            return
        }
        #expect(capacity.drains)
        #expect(!Capacity(memoryMB: 1, slots: 1).drains)
        #expect(!Capacity(memoryMB: 0, slots: 5).drains)

        let error = #expect(throws: ProtocolError.self) {
            try Codec.decode([sig, [0x20], u32(0) + u32(5)], channel: .invokerToBroker)
        }
        #expect(error?.code == .malformed)
    }

    @Test("§4 every command byte in every direction: unknownCommand / unexpectedCommand", arguments: Channel.allCases)
    func commandTable(channel: Channel) {
        for byte in UInt8.min...UInt8.max {
            let frames: [[UInt8]] = [sig, [byte]]
            do throws(ProtocolError) {
                let message = try Codec.decode(frames, channel: channel)
                // Only the body-less commands can decode from two frames, and only where allowed.
                #expect([0x03, 0x04, 0x06, 0x08, 0x09].contains(byte), "byte 0x\(String(byte, radix: 16)) decoded as \(message)")
                #expect(specDirections[byte]?.contains(channel) == true, "byte 0x\(String(byte, radix: 16)) on \(channel)")
            } catch {
                guard let allowed = specDirections[byte] else {
                    #expect(error.code == .unknownCommand, "byte 0x\(String(byte, radix: 16)) on \(channel): \(error)")
                    continue
                }
                if allowed.contains(channel) {
                    // Allowed here; two frames are too few for every command with a body.
                    #expect(![0x03, 0x04, 0x06, 0x08, 0x09].contains(byte), "byte 0x\(String(byte, radix: 16)) on \(channel): \(error)")
                    #expect(error.code == .malformed, "byte 0x\(String(byte, radix: 16)) on \(channel): \(error)")
                } else {
                    #expect(error.code == .unexpectedCommand, "byte 0x\(String(byte, radix: 16)) on \(channel): \(error)")
                }
            }
        }
    }

    @Test("§4 Channel.allowedCommands matches the spec's command table", arguments: Channel.allCases)
    func allowedCommandsMatchTable(channel: Channel) {
        let expected = Set(specDirections.filter { $0.value.contains(channel) }.keys)
        #expect(Set(channel.allowedCommands.map(\.rawValue)) == expected)
    }
}

// MARK: - §3.2 identifier rule

@Suite("§3.2 Identifier.isValid")
struct IdentifierTests {
    @Test("§3.2 accepts [A-Za-z0-9._-]{1,128}", arguments: [
        "a", "Z", "0", "9", ".", "_", "-", "..", "inv-1.a_B", "guest_2.ctl-0",
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-",
        String(repeating: "a", count: 128),
        String(repeating: "9", count: 127) + "_",
    ])
    func accepts(_ value: String) {
        #expect(Identifier.isValid(value))
    }

    @Test("§3.2 rejects everything else", arguments: [
        "",                                                // empty
        String(repeating: "a", count: 129),                // 129 chars
        String(repeating: "a", count: 127) + "é",          // 128 characters but 129 bytes
        String(repeating: "é", count: 64),                 // 64 characters, 128 bytes, not ASCII
        "a b", " a", "a ", "a/b", "a:b", "a@b", "a+b", "a*", "a\\b", "a,b", "a~b",
        "a\n", "a\t", "a\u{0}", "a\u{7F}",
        "é", "ctl-é", "日本", "Ａ", "٣", "ﬀ", "a\u{301}", "\u{1F600}", "İ",
    ])
    func rejects(_ value: String) {
        #expect(!Identifier.isValid(value))
    }

    @Test("§3.2 every single ASCII character: only [A-Za-z0-9._-] is valid")
    func singleASCII() {
        for byte in UInt8(0)...UInt8(127) {
            let isAllowed = (0x30...0x39).contains(byte) // 0-9
                || (0x41...0x5A).contains(byte)          // A-Z
                || (0x61...0x7A).contains(byte)          // a-z
                || byte == 0x2E || byte == 0x5F || byte == 0x2D // . _ -
            let value = String(decoding: [byte], as: UTF8.self)
            #expect(Identifier.isValid(value) == isAllowed, "byte 0x\(String(byte, radix: 16))")
        }
    }

    @Test("§3.2 validate throws invalidId")
    func validateThrows() {
        let error = #expect(throws: ProtocolError.self) {
            try Identifier.validate("a b", field: "test id")
        }
        #expect(error?.code == .invalidID)
        #expect(throws: Never.self) { try Identifier.validate("a.b", field: "test id") }
    }
}
