import Testing
import SluiceProtocol

// Golden byte vectors for every SLU/1 command (docs/PROTOCOL.md §3 and §4).
//
// Every expected frame below is written out by hand from the spec's ABNF: hex literals with a
// comment per field. Nothing here calls the encoder to produce an expectation, so a change in
// the wire format (field order, endianness, length prefixes, flag bits) makes these tests fail.

/// §3.1 signature frame: "SLU" (0x53 0x4C 0x55) then version 0x01.
private let signature: [UInt8] = [0x53, 0x4C, 0x55, 0x01]

/// Checks `message` against its golden `frames` both ways.
///
/// - `frames` is the full message as the DEALER sends or receives it: signature, command,
///   body frames, and (when `hasOpaque`) the opaque payload or result frame last.
/// - Encoding must produce exactly those frames; decoding them on `channel` must give back
///   `message`.
private func checkGolden(
    _ message: Message, _ frames: [[UInt8]], channel: Channel, hasOpaque: Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(message.hasOpaqueFrame == hasOpaque, "hasOpaqueFrame", sourceLocation: sourceLocation)
    if hasOpaque {
        let opaque = try #require(frames.last, sourceLocation: sourceLocation)
        #expect(Codec.encode(message) == Array(frames.dropLast()), "encode (header frames)", sourceLocation: sourceLocation)
        #expect(Codec.encode(message, opaque: opaque) == frames, "encode(_:opaque:)", sourceLocation: sourceLocation)
        #expect(Codec.encodeBody(message) == frames[2], "encodeBody", sourceLocation: sourceLocation)
    } else {
        #expect(Codec.encode(message) == frames, "encode", sourceLocation: sourceLocation)
        // A command without an opaque frame ignores the one offered.
        #expect(Codec.encode(message, opaque: [0xEE, 0xEE]) == frames, "encode(_:opaque:) ignores opaque", sourceLocation: sourceLocation)
        #expect(Codec.encodeBody(message) == (frames.count > 2 ? frames[2] : nil), "encodeBody", sourceLocation: sourceLocation)
    }
    let decoded = try Codec.decode(frames, channel: channel)
    #expect(decoded == message, "decode", sourceLocation: sourceLocation)
}

@Suite("SLU/1 golden bytes (§3, §4)")
struct GoldenBytesTests {
    // MARK: §3.1 framing

    @Test("§3.1 signature frame is 'SLU' + version 1")
    func signatureFrame() {
        #expect(ProtocolConstants.signature == [0x53, 0x4C, 0x55, 0x01])
        #expect(ProtocolConstants.version == 0x01)
    }

    @Test("§4 command bytes match the command table")
    func commandBytes() {
        #expect(Command.hello.rawValue == 0x01)
        #expect(Command.welcome.rawValue == 0x02)
        #expect(Command.heartbeat.rawValue == 0x03)
        #expect(Command.goodbye.rawValue == 0x04)
        #expect(Command.error.rawValue == 0x05)
        #expect(Command.activate.rawValue == 0x10)
        #expect(Command.answer.rawValue == 0x11)
        #expect(Command.capacity.rawValue == 0x20)
        #expect(Command.dispatch.rawValue == 0x21)
        #expect(Command.result.rawValue == 0x22)
        #expect(Command.completion.rawValue == 0x23)
        #expect(Command.subscribe.rawValue == 0x30)
        #expect(Command.unsubscribe.rawValue == 0x31)
        #expect(Command.publish.rawValue == 0x32)
        #expect(Command.cluster.rawValue == 0x06)
        #expect(Command.members.rawValue == 0x07)
        #expect(Command.recovered.rawValue == 0x12)
        #expect(Command.follow.rawValue == 0x08)
        #expect(Command.invokers.rawValue == 0x09)
        #expect(Command.completed.rawValue == 0x13)
        #expect(Command.inventory.rawValue == 0x14)
        #expect(Command.allCases.count == 21)
    }

    @Test("§6.2 answer kind values and §7 error code values")
    func kindAndCodeValues() {
        let kinds: [(AnswerKind, UInt8)] = [
            (.success, 0), (.applicationError, 1), (.systemError, 2), (.timeout, 3), (.invokerLost, 4),
            (.overloaded, 5), (.throttled, 6), (.expired, 7), (.rejected, 8), (.brokerLost, 9),
        ]
        for (kind, value) in kinds { #expect(kind.rawValue == value, "\(kind)") }
        #expect(AnswerKind.allCases.count == 10)
        #expect(!AnswerKind.brokerKinds.contains(.brokerLost), "a broker never gives brokerLost (§9.2)")

        let codes: [(ErrorCode, UInt16, String)] = [
            (.badSignature, 1, "badSignature"), (.badVersion, 2, "badVersion"),
            (.unknownCommand, 3, "unknownCommand"), (.unexpectedCommand, 4, "unexpectedCommand"),
            (.malformed, 5, "malformed"), (.invalidID, 6, "invalidId"), (.notRegistered, 7, "notRegistered"),
            (.duplicateActivation, 8, "duplicateActivation"), (.unknownActivation, 9, "unknownActivation"),
            (.oversize, 10, "oversize"),
        ]
        for (code, value, name) in codes {
            #expect(code.rawValue == value, "\(name)")
            #expect(code.name == name)
        }
    }

    // MARK: §4.1 HELLO

    @Test("§4.1 HELLO (controller)")
    func controllerHello() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x01],                                    // command HELLO
            [
                0x04, 0x63, 0x74, 0x6C, 0x30,          // id: short-string len 4, "ctl0"
            ],
        ]
        try checkGolden(.controllerHello(controllerID: "ctl0"), frames, channel: .controllerToBroker, hasOpaque: false)
    }

    @Test("§4.1 HELLO (invoker, with tags)")
    func invokerHelloWithTags() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x01],                                    // command HELLO
            [
                0x05, 0x69, 0x6E, 0x76, 0x2D, 0x31,    // id: len 5, "inv-1"
                0x00, 0x01, 0x11, 0x70,                // memory-mb: u32 70000 (0x00011170)
                0x00, 0x00, 0x01, 0x02,                // slots: u32 258 (0x00000102)
                0x02,                                  // tag-count: 2
                0x03, 0x67, 0x70, 0x75,                // tag: len 3, "gpu"
                0x03, 0x78, 0x38, 0x36,                // tag: len 3, "x86"
                0x01,                                  // dedicated-count: 1
                0x04, 0x74, 0x65, 0x61, 0x6D,          // namespace: len 4, "team"
            ],
        ]
        let hello = InvokerHello(invokerID: "inv-1", memoryMB: 70_000, slots: 258, tags: ["gpu", "x86"], dedicatedNamespaces: ["team"])
        try checkGolden(.invokerHello(hello), frames, channel: .invokerToBroker, hasOpaque: false)
    }

    @Test("§4.1 HELLO (invoker, no tags)")
    func invokerHelloWithoutTags() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x01],                                    // command HELLO
            [
                0x02, 0x69, 0x30,                      // id: len 2, "i0"
                0x00, 0x00, 0x08, 0x00,                // memory-mb: u32 2048
                0x00, 0x00, 0x00, 0x01,                // slots: u32 1
                0x00,                                  // tag-count: 0
                0x00,                                  // dedicated-count: 0
            ],
        ]
        let hello = InvokerHello(invokerID: "i0", memoryMB: 2048, slots: 1)
        try checkGolden(.invokerHello(hello), frames, channel: .invokerToBroker, hasOpaque: false)
    }

    // MARK: §4.2 WELCOME

    @Test("§4.2 WELCOME", arguments: [Channel.brokerToController, .brokerToInvoker])
    func welcome(channel: Channel) throws {
        let frames: [[UInt8]] = [
            signature,
            [0x02],                                    // command WELCOME
            [
                0x06, 0x73, 0x6C, 0x75, 0x69, 0x63, 0x65, // broker-id: len 6, "sluice"
                0x00, 0x00, 0x03, 0xE8,                // heartbeat-ms: u32 1000
                0x00, 0x20, 0x00, 0x00,                // max-message: u32 2 MiB (2097152)
            ],
        ]
        let message = Message.welcome(Welcome(brokerID: "sluice", heartbeatMilliseconds: 1000, maxMessageBytes: 2_097_152))
        try checkGolden(message, frames, channel: channel, hasOpaque: false)
    }

    // MARK: §9 Cluster

    @Test("§9.1 CLUSTER (no body frames)", arguments: [Channel.controllerToBroker, .invokerToBroker])
    func cluster(channel: Channel) throws {
        try checkGolden(.cluster, [signature, [0x06]], channel: channel, hasOpaque: false)
    }

    @Test("§9.1 MEMBERS", arguments: [Channel.brokerToController, .brokerToInvoker])
    func members(channel: Channel) throws {
        let frames: [[UInt8]] = [
            signature,
            [0x07],                                            // command MEMBERS
            [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, // incarnation: u64 258
                0x00, 0x02,                                    // member-count: u16 2
                0x02, 0x62, 0x31,                              // broker-id: "b1"
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, // member-incarnation: u64 258
                0x00,                                          // state: serving
                0x03, 0x74, 0x3A, 0x31,                        // controller-endpoint: "t:1"
                0x03, 0x74, 0x3A, 0x32,                        // invoker-endpoint: "t:2"
                0x00,                                          // move-to: empty
                0x02, 0x62, 0x32,                              // broker-id: "b2"
                0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // member-incarnation: u64 2^63 + 1
                0x01,                                          // state: leaving
                0x03, 0x74, 0x3A, 0x33,                        // controller-endpoint: "t:3"
                0x03, 0x74, 0x3A, 0x34,                        // invoker-endpoint: "t:4"
                0x02, 0x62, 0x31,                              // move-to: "b1"
            ],
        ]
        let message = Message.members(Members(incarnation: 258, members: [
            ClusterMember(brokerID: "b1", incarnation: 258, state: .serving, controllerEndpoint: "t:1", invokerEndpoint: "t:2"),
            ClusterMember(brokerID: "b2", incarnation: 1 << 63 | 1, state: .leaving, controllerEndpoint: "t:3", invokerEndpoint: "t:4", moveTo: "b1"),
        ]))
        try checkGolden(message, frames, channel: channel, hasOpaque: false)
    }

    @Test("§9.1 RECOVERED")
    func recovered() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x12],                                            // command RECOVERED
            [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // incarnation: u64 7
                0x00, 0x00, 0x00, 0x02,                        // id-count: u32 2
                0x02, 0x61, 0x31,                              // activation-id: "a1"
                0x02, 0x61, 0x32,                              // activation-id: "a2"
            ],
        ]
        try checkGolden(.recovered(Recovered(incarnation: 7, activationIDs: ["a1", "a2"])), frames, channel: .brokerToController, hasOpaque: false)
    }

    @Test("§10.1 FOLLOW and INVOKERS: a command frame alone")
    func followAndInvokers() throws {
        try checkGolden(.follow, [signature, [0x08]], channel: .controllerToBroker, hasOpaque: false)
        try checkGolden(.invokers, [signature, [0x09]], channel: .controllerToBroker, hasOpaque: false)
    }

    @Test("§10.1 COMPLETED, one per cause")
    func completed() throws {
        let cases: [(CompletedNotice, UInt8)] = [
            (CompletedNotice(activationID: "a1", invokerID: "i1", systemError: false, cause: .completion), 0x00),
            (CompletedNotice(activationID: "a1", invokerID: "i1", systemError: true, cause: .completion), 0x01),
            (CompletedNotice(activationID: "a1", invokerID: "i1", systemError: true, cause: .invokerLost), 0x03),
            (CompletedNotice(activationID: "a1", invokerID: "i1", systemError: false, cause: .timeout), 0x04),
        ]
        for (notice, flags) in cases {
            let frames: [[UInt8]] = [
                signature,
                [0x13],                    // command COMPLETED
                [
                    0x02, 0x61, 0x31,      // activation-id: "a1"
                    0x02, 0x69, 0x31,      // invoker-id: "i1"
                    flags,                 // completed-flags
                ],
            ]
            try checkGolden(.completed(notice), frames, channel: .brokerToController, hasOpaque: false)
        }
    }

    @Test("§10.1 INVENTORY")
    func inventory() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x14],                                    // command INVENTORY
            [
                0x00, 0x02,                            // controllers: u16 2
                0x00, 0x02,                            // invoker-count: u16 2
                0x02, 0x69, 0x31,                      // invoker-id: "i1"
                0x00,                                  // health: healthy
                0x00, 0x00, 0x08, 0x00,                // memory-mb: 2048
                0x00, 0x00, 0x00, 0x10,                // slots: 16
                0x00, 0x00, 0x01, 0x00,                // used-memory-mb: 256
                0x00, 0x00, 0x00, 0x01,                // used-slots: 1
                0x01, 0x03, 0x67, 0x70, 0x75,          // tags: ["gpu"]
                0x00,                                  // dedicated: []
                0x02, 0x69, 0x32,                      // invoker-id: "i2"
                0x03,                                  // health: draining
                0x00, 0x00, 0x00, 0x00,                // memory-mb: 0
                0x00, 0x00, 0x00, 0x00,                // slots: 0
                0x00, 0x00, 0x00, 0x00,                // used-memory-mb: 0
                0x00, 0x00, 0x00, 0x00,                // used-slots: 0
                0x00,                                  // tags: []
                0x01, 0x02, 0x6E, 0x73,                // dedicated: ["ns"]
            ],
        ]
        let message = Message.inventory(Inventory(controllers: 2, invokers: [
            .init(invokerID: "i1", health: .healthy, memoryMB: 2048, slots: 16, usedMemoryMB: 256, usedSlots: 1, tags: ["gpu"]),
            .init(invokerID: "i2", health: .draining, memoryMB: 0, slots: 0, usedMemoryMB: 0, usedSlots: 0, dedicatedNamespaces: ["ns"]),
        ]))
        try checkGolden(message, frames, channel: .brokerToController, hasOpaque: false)
    }

    @Test("§9.3 HEARTBEAT with room, broker to a cluster peer", arguments: [Channel.brokerToController, .brokerToInvoker])
    func roomHeartbeat(channel: Channel) throws {
        let frames: [[UInt8]] = [
            signature,
            [0x03],                                            // command HEARTBEAT
            [
                0x00, 0x00, 0x01, 0x00,                        // free-slots: u32 256
                0x00, 0x00, 0x00, 0x05,                        // waiting: u32 5
                0x00, 0x00, 0x02, 0x00,                        // slots: u32 512
            ],
        ]
        try checkGolden(.roomHeartbeat(Room(freeSlots: 256, waiting: 5, slots: 512)), frames, channel: channel, hasOpaque: false)
    }

    // MARK: §4.3 HEARTBEAT

    @Test("§4.3 HEARTBEAT (no body frames, every direction)", arguments: Channel.allCases)
    func heartbeat(channel: Channel) throws {
        let frames: [[UInt8]] = [
            signature,
            [0x03],                                    // command HEARTBEAT; no body frames
        ]
        try checkGolden(.heartbeat, frames, channel: channel, hasOpaque: false)
    }

    // MARK: §4.4 GOODBYE

    @Test("§4.4 GOODBYE (no body frames)", arguments: [Channel.controllerToBroker, .invokerToBroker])
    func goodbye(channel: Channel) throws {
        let frames: [[UInt8]] = [
            signature,
            [0x04],                                    // command GOODBYE; no body frames
        ]
        try checkGolden(.goodbye, frames, channel: channel, hasOpaque: false)
    }

    // MARK: §4.5 ERROR

    @Test("§4.5 ERROR (notRegistered, no activation)")
    func errorNotRegistered() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x05],                                    // command ERROR
            [
                0x00, 0x07,                            // code: u16 7 (notRegistered, §7)
                0x00,                                  // activation-ref: empty short-string
                0x00, 0x0A,                            // reason: long-string len 10
                0x73, 0x65, 0x6E, 0x64, 0x20,          //   "send "
                0x48, 0x45, 0x4C, 0x4C, 0x4F,          //   "HELLO"
            ],
        ]
        let message = Message.error(ErrorReport(code: .notRegistered, reason: "send HELLO"))
        try checkGolden(message, frames, channel: .brokerToInvoker, hasOpaque: false)
    }

    @Test("§4.5 ERROR (duplicateActivation with activation-ref, empty reason)")
    func errorDuplicate() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x05],                                    // command ERROR
            [
                0x00, 0x08,                            // code: u16 8 (duplicateActivation, §7)
                0x06, 0x61, 0x63, 0x74, 0x2E, 0x30, 0x31, // activation-ref: len 6, "act.01"
                0x00, 0x00,                            // reason: long-string len 0
            ],
        ]
        let message = Message.error(ErrorReport(code: .duplicateActivation, activationID: "act.01", reason: ""))
        try checkGolden(message, frames, channel: .brokerToController, hasOpaque: false)
    }

    @Test("§4.5 ERROR (u16 code and long-string length are big-endian; unknown code kept)")
    func errorBigEndian() throws {
        let reason = String(repeating: "z", count: 300)
        let frames: [[UInt8]] = [
            signature,
            [0x05],                                    // command ERROR
            [
                0x01, 0x02,                            // code: u16 258 (not assigned; still decodes)
                0x00,                                  // activation-ref: empty
                0x01, 0x2C,                            // reason: long-string len 300 (0x012C)
            ] + [UInt8](repeating: 0x7A, count: 300),  //   300 x "z"
        ]
        let message = Message.error(ErrorReport(code: ErrorCode(rawValue: 258), reason: reason))
        try checkGolden(message, frames, channel: .brokerToController, hasOpaque: false)
    }

    // MARK: §4.6 ACTIVATE

    @Test("§4.6 ACTIVATE (blocking, broker places, answer to sender)")
    func activate() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x10],                                    // command ACTIVATE
            [                                          // routing header frame
                0x06, 0x61, 0x63, 0x74, 0x2E, 0x30, 0x31, // activation-id: len 6, "act.01"
                0x05, 0x67, 0x75, 0x65, 0x73, 0x74,    // namespace: len 5, "guest"
                0x00, 0x0B,                            // action: long-string len 11
                0x67, 0x75, 0x65, 0x73, 0x74, 0x2F,    //   "guest/"
                0x68, 0x65, 0x6C, 0x6C, 0x6F,          //   "hello"
                0x05, 0x33, 0x2D, 0x61, 0x62, 0x63,    // revision: len 5, "3-abc"
                0x00, 0x00, 0x01, 0x00,                // memory-mb: u32 256
                0x00, 0x00, 0xEA, 0x60,                // time-limit-ms: u32 60000
                0x01,                                  // flags: bit 0 blocking
                0x00,                                  // target-invoker: empty (broker places)
                0x00,                                  // answer-to: empty (the sender)
                0x00,                                 // required-tag-count: 0
                0x00, 0x00, 0x00, 0x00,               // max-wait-ms: 0 (the broker's limit)
            ],
            [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x31, 0x7D], // payload frame: {"a":1}
        ]
        let header = RoutingHeader(
            activationID: "act.01", namespace: "guest", action: "guest/hello", revision: "3-abc",
            memoryMB: 256, timeLimitMilliseconds: 60_000, blocking: true, blackbox: false,
            targetInvoker: "", answerTo: "")
        try checkGolden(.activate(header), frames, channel: .controllerToBroker, hasOpaque: true)
    }

    @Test("§4.6 ACTIVATE (non-blocking blackbox, target invoker, answer-to, empty payload)")
    func activateAllFields() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x10],                                    // command ACTIVATE
            [                                          // routing header frame
                0x03, 0x62, 0x5F, 0x32,                // activation-id: len 3, "b_2"
                0x02, 0x6E, 0x73,                      // namespace: len 2, "ns"
                0x00, 0x0A,                            // action: long-string len 10
                0x6E, 0x73, 0x2F, 0x70, 0x6B, 0x67,    //   "ns/pkg"
                0x2F, 0x61, 0x63, 0x74,                //   "/act"
                0x00,                                  // revision: empty
                0x00, 0x00, 0x02, 0x00,                // memory-mb: u32 512
                0x00, 0x04, 0x93, 0xE0,                // time-limit-ms: u32 300000
                0x02,                                  // flags: bit 1 blackbox, not blocking
                0x05, 0x69, 0x6E, 0x76, 0x2D, 0x31,    // target-invoker: len 5, "inv-1"
                0x04, 0x63, 0x74, 0x6C, 0x31,          // answer-to: len 4, "ctl1"
                0x00,                                 // required-tag-count: 0
                0x00, 0x00, 0x00, 0x00,               // max-wait-ms: 0 (the broker's limit)
            ],
            [],                                        // payload frame: empty
        ]
        let header = RoutingHeader(
            activationID: "b_2", namespace: "ns", action: "ns/pkg/act", revision: "",
            memoryMB: 512, timeLimitMilliseconds: 300_000, blocking: false, blackbox: true,
            targetInvoker: "inv-1", answerTo: "ctl1")
        try checkGolden(.activate(header), frames, channel: .controllerToBroker, hasOpaque: true)
    }

    // MARK: §4.7 ANSWER

    @Test("§4.7 ANSWER (applicationError with invoker, reason and result)")
    func answer() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x11],                                    // command ANSWER
            [                                          // answer header frame
                0x06, 0x61, 0x63, 0x74, 0x2E, 0x30, 0x31, // activation-id: len 6, "act.01"
                0x01,                                  // kind: 1 applicationError (§6.2)
                0x05, 0x69, 0x6E, 0x76, 0x2D, 0x31,    // invoker-ref: len 5, "inv-1"
                0x00, 0x04, 0x62, 0x6F, 0x6F, 0x6D,    // reason: long-string len 4, "boom"
            ],
            [0x7B, 0x7D],                              // result frame: {}
        ]
        let message = Message.answer(AnswerHeader(activationID: "act.01", kind: .applicationError, invokerID: "inv-1", reason: "boom"))
        try checkGolden(message, frames, channel: .brokerToController, hasOpaque: true)
    }

    @Test("§4.7 ANSWER (rejected: no invoker, empty result frame)")
    func answerRejected() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x11],                                    // command ANSWER
            [                                          // answer header frame
                0x02, 0x61, 0x31,                      // activation-id: len 2, "a1"
                0x08,                                  // kind: 8 rejected (§6.2)
                0x00,                                  // invoker-ref: empty (none ran it)
                0x00, 0x03, 0x62, 0x61, 0x64,          // reason: long-string len 3, "bad"
            ],
            [],                                        // result frame: empty
        ]
        let message = Message.answer(AnswerHeader(activationID: "a1", kind: .rejected, invokerID: "", reason: "bad"))
        try checkGolden(message, frames, channel: .brokerToController, hasOpaque: true)
    }

    // MARK: §4.8 CAPACITY

    @Test("§4.8 CAPACITY")
    func capacity() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x20],                                    // command CAPACITY
            [
                0x00, 0x00, 0x04, 0x00,                // memory-mb: u32 1024
                0x00, 0x00, 0x00, 0x04,                // slots: u32 4
            ],
        ]
        try checkGolden(.capacity(Capacity(memoryMB: 1024, slots: 4)), frames, channel: .invokerToBroker, hasOpaque: false)
    }

    @Test("§4.8 CAPACITY 0 0 (drain)")
    func capacityDrain() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x20],                                    // command CAPACITY
            [
                0x00, 0x00, 0x00, 0x00,                // memory-mb: u32 0
                0x00, 0x00, 0x00, 0x00,                // slots: u32 0
            ],
        ]
        try checkGolden(.capacity(Capacity(memoryMB: 0, slots: 0)), frames, channel: .invokerToBroker, hasOpaque: false)
        #expect(Capacity(memoryMB: 0, slots: 0).drains)
    }

    // MARK: §4.9 DISPATCH

    @Test("§4.9 DISPATCH (routing header of §4.6 with answer-to set)")
    func dispatch() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x21],                                    // command DISPATCH
            [                                          // routing header frame (§4.6)
                0x06, 0x61, 0x63, 0x74, 0x2E, 0x30, 0x31, // activation-id: len 6, "act.01"
                0x05, 0x67, 0x75, 0x65, 0x73, 0x74,    // namespace: len 5, "guest"
                0x00, 0x0B,                            // action: long-string len 11
                0x67, 0x75, 0x65, 0x73, 0x74, 0x2F,    //   "guest/"
                0x68, 0x65, 0x6C, 0x6C, 0x6F,          //   "hello"
                0x05, 0x33, 0x2D, 0x61, 0x62, 0x63,    // revision: len 5, "3-abc"
                0x00, 0x00, 0x01, 0x00,                // memory-mb: u32 256
                0x00, 0x00, 0xEA, 0x60,                // time-limit-ms: u32 60000
                0x03,                                  // flags: blocking | blackbox
                0x00,                                  // target-invoker: empty
                0x04, 0x63, 0x74, 0x6C, 0x30,          // answer-to: len 4, "ctl0"
                0x00,                                 // required-tag-count: 0
                0x00, 0x00, 0x00, 0x00,               // max-wait-ms: 0 (the broker's limit)
            ],
            [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x31, 0x7D], // payload frame: {"a":1}, as sent
        ]
        let header = RoutingHeader(
            activationID: "act.01", namespace: "guest", action: "guest/hello", revision: "3-abc",
            memoryMB: 256, timeLimitMilliseconds: 60_000, blocking: true, blackbox: true,
            targetInvoker: "", answerTo: "ctl0")
        try checkGolden(.dispatch(header), frames, channel: .brokerToInvoker, hasOpaque: true)
    }

    // MARK: §4.10 RESULT

    @Test("§4.10 RESULT (each outcome)", arguments: [
        (Outcome.success, UInt8(0x00)), (Outcome.applicationError, UInt8(0x01)), (Outcome.systemError, UInt8(0x02)),
    ])
    func result(outcome: Outcome, byte: UInt8) throws {
        let frames: [[UInt8]] = [
            signature,
            [0x22],                                    // command RESULT
            [                                          // result header frame
                0x06, 0x61, 0x63, 0x74, 0x2E, 0x30, 0x31, // activation-id: len 6, "act.01"
                byte,                                  // outcome: u8 0 / 1 / 2
            ],
            [0x7B, 0x22, 0x65, 0x22, 0x3A, 0x31, 0x7D], // result frame: {"e":1}
        ]
        let message = Message.result(ResultHeader(activationID: "act.01", outcome: outcome))
        try checkGolden(message, frames, channel: .invokerToBroker, hasOpaque: true)
    }

    // MARK: §4.11 COMPLETION

    @Test("§4.11 COMPLETION without result")
    func completionWithoutResult() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x23],                                    // command COMPLETION
            [                                          // completion header frame
                0x06, 0x61, 0x63, 0x74, 0x2E, 0x30, 0x31, // activation-id: len 6, "act.01"
                0x00,                                  // completion-flags: no result, no system error
                0x00,                                  // outcome: MUST be 0 without a result
            ],
        ]
        let message = Message.completion(CompletionHeader(activationID: "act.01", includesResult: false, systemError: false, outcome: .success))
        try checkGolden(message, frames, channel: .invokerToBroker, hasOpaque: false)
    }

    @Test("§4.11 COMPLETION without result, system-error flag")
    func completionSystemErrorWithoutResult() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x23],                                    // command COMPLETION
            [                                          // completion header frame
                0x02, 0x61, 0x31,                      // activation-id: len 2, "a1"
                0x02,                                  // completion-flags: bit 1 system error
                0x00,                                  // outcome: 0 (no result)
            ],
        ]
        let message = Message.completion(CompletionHeader(activationID: "a1", includesResult: false, systemError: true, outcome: .success))
        try checkGolden(message, frames, channel: .invokerToBroker, hasOpaque: false)
    }

    @Test("§4.11 COMPLETION combined with result and system-error flag")
    func completionCombined() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x23],                                    // command COMPLETION
            [                                          // completion header frame
                0x06, 0x61, 0x63, 0x74, 0x2E, 0x30, 0x31, // activation-id: len 6, "act.01"
                0x03,                                  // completion-flags: bit 0 result follows | bit 1 system error
                0x02,                                  // outcome: 2 systemError
            ],
            [0x7B, 0x22, 0x65, 0x22, 0x3A, 0x32, 0x7D], // result frame: {"e":2}
        ]
        let message = Message.completion(CompletionHeader(activationID: "act.01", includesResult: true, systemError: true, outcome: .systemError))
        try checkGolden(message, frames, channel: .invokerToBroker, hasOpaque: true)
    }

    @Test("§4.11 COMPLETION combined with result, success")
    func completionCombinedSuccess() throws {
        let frames: [[UInt8]] = [
            signature,
            [0x23],                                    // command COMPLETION
            [                                          // completion header frame
                0x02, 0x61, 0x31,                      // activation-id: len 2, "a1"
                0x01,                                  // completion-flags: bit 0 result follows
                0x00,                                  // outcome: 0 success
            ],
            [0x7B, 0x7D],                              // result frame: {}
        ]
        let message = Message.completion(CompletionHeader(activationID: "a1", includesResult: true, systemError: false, outcome: .success))
        try checkGolden(message, frames, channel: .invokerToBroker, hasOpaque: true)
    }

    // MARK: §4.13 SUBSCRIBE / UNSUBSCRIBE, §4.14 PUBLISH

    @Test("§4.13 SUBSCRIBE and UNSUBSCRIBE")
    func subscribe() throws {
        try checkGolden(.subscribe(prefix: "cache"), [
            signature, [0x30],
            [0x05, 0x63, 0x61, 0x63, 0x68, 0x65],      // topic-prefix: "cache"
        ], channel: .controllerToBroker, hasOpaque: false)
        try checkGolden(.subscribe(prefix: ""), [
            signature, [0x30],
            [0x00],                                    // topic-prefix: empty, every topic
        ], channel: .invokerToBroker, hasOpaque: false)
        try checkGolden(.unsubscribe(prefix: "ev"), [
            signature, [0x31],
            [0x02, 0x65, 0x76],                        // topic-prefix: "ev"
        ], channel: .invokerToBroker, hasOpaque: false)
    }

    @Test("§4.14 PUBLISH, peer to broker and broker to peer")
    func publish() throws {
        try checkGolden(.publish(topic: "events"), [
            signature, [0x32],
            [0x06, 0x65, 0x76, 0x65, 0x6E, 0x74, 0x73], // topic: "events"
            [0x7B, 0x7D],                              // payload: opaque
        ], channel: .controllerToBroker, hasOpaque: true)
        try checkGolden(.publication(PublicationHeader(topic: "events", originRole: .invoker, originID: "i7")), [
            signature, [0x32],
            [0x06, 0x65, 0x76, 0x65, 0x6E, 0x74, 0x73, // topic: "events"
             0x01,                                     // origin-role: invoker
             0x02, 0x69, 0x37],                        // origin: "i7"
            [0x7B, 0x7D],                              // payload: unchanged
        ], channel: .brokerToController, hasOpaque: true)
    }

    // MARK: decode takes slices too

    @Test("§3.1 decode reads ArraySlice frames (golden ACTIVATE)")
    func decodeSlices() throws {
        let frames: [ArraySlice<UInt8>] = [
            signature[...],
            [0x10][...],                               // command ACTIVATE
            [
                0x02, 0x61, 0x31,                      // activation-id: "a1"
                0x01, 0x6E,                            // namespace: "n"
                0x00, 0x03, 0x6E, 0x2F, 0x61,          // action: "n/a"
                0x00,                                  // revision: empty
                0x00, 0x00, 0x00, 0x01,                // memory-mb: 1
                0x00, 0x00, 0x00, 0x01,                // time-limit-ms: 1
                0x00,                                  // flags: none
                0x00,                                  // target-invoker: empty
                0x00,                                  // answer-to: empty
                0x00,                                 // required-tag-count: 0
                0x00, 0x00, 0x00, 0x00,               // max-wait-ms: 0 (the broker's limit)
            ][...],
            [0xFF, 0x00][...],                         // payload: opaque, not UTF-8, never parsed
        ]
        let decoded = try Codec.decode(frames, channel: .controllerToBroker)
        let header = RoutingHeader(activationID: "a1", namespace: "n", action: "n/a", revision: "",
                                   memoryMB: 1, timeLimitMilliseconds: 1, blocking: false, blackbox: false)
        #expect(decoded == .activate(header))
    }
}
