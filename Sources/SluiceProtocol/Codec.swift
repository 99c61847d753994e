/// Encodes and decodes SLU/1 messages (docs/PROTOCOL.md). Pure: no I/O, no ZeroMQ.
///
/// `encode` produces the signature, command and header frames; the caller appends the opaque
/// frame (payload or result) when `Message.hasOpaqueFrame` is true. `decode` reads every frame
/// except the opaque one, which it only counts.
public enum Codec {
    // MARK: Encoding

    /// The frames of `message` up to and including its header frame.
    public static func encode(_ message: Message) -> [[UInt8]] {
        var frames: [[UInt8]] = [ProtocolConstants.signature, [message.command.rawValue]]
        if let body = encodeBody(message) { frames.append(body) }
        return frames
    }

    /// The frames of `message` followed by `opaque` (for tests and small tools).
    public static func encode(_ message: Message, opaque: [UInt8]) -> [[UInt8]] {
        var frames = encode(message)
        if message.hasOpaqueFrame { frames.append(opaque) }
        if let trailer = encodeTrailer(message) { frames.append(trailer) }
        return frames
    }

    /// The frame that follows the opaque frame (a COMPLETION's warm report), if any.
    public static func encodeTrailer(_ message: Message) -> [UInt8]? {
        guard let report = message.trailingWarmReport else { return nil }
        var writer = ByteWriter()
        encode(report, into: &writer)
        return writer.bytes
    }

    static func encode(_ report: WarmReport, into writer: inout ByteWriter) {
        precondition(report.entries.count <= WarmReport.maxEntries, "warm report with more than \(WarmReport.maxEntries) entries")
        writer.u16(UInt16(report.entries.count))
        for entry in report.entries {
            writer.longString(entry.action)
            writer.u16(entry.idle)
            writer.u16(entry.total)
        }
    }

    /// The header frame of `message`, or nil for commands without one.
    public static func encodeBody(_ message: Message) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        return encodeBody(message, into: &bytes) ? bytes : nil
    }

    /// Writes the header frame of `message` over `bytes`, keeping their capacity (a sender that
    /// encodes many messages reuses one buffer). Returns false, with `bytes` empty, for
    /// commands without one.
    public static func encodeBody(_ message: Message, into bytes: inout [UInt8]) -> Bool {
        var writer = ByteWriter(reusing: &bytes)
        defer { bytes = writer.bytes }
        switch message {
        case .heartbeat, .goodbye, .cluster, .follow, .invokers:
            return false
        case .completed(let notice):
            writer.shortString(notice.activationID)
            writer.shortString(notice.invokerID)
            let cause: UInt8 = switch notice.cause { case .completion: 0; case .invokerLost: 2; case .timeout: 4 }
            writer.u8((notice.systemError ? 1 : 0) | cause)
        case .inventory(let inventory):
            precondition(inventory.invokers.count <= Inventory.maxEntries, "INVENTORY with more than \(Inventory.maxEntries) invokers")
            writer.u16(inventory.controllers)
            writer.u16(UInt16(inventory.invokers.count))
            for entry in inventory.invokers {
                writer.shortString(entry.invokerID)
                writer.u8(entry.health.rawValue)
                writer.u32(entry.memoryMB)
                writer.u32(entry.slots)
                writer.u32(entry.usedMemoryMB)
                writer.u32(entry.usedSlots)
                precondition(entry.tags.count <= ProtocolConstants.maxTags && entry.dedicatedNamespaces.count <= ProtocolConstants.maxTags,
                             "more than \(ProtocolConstants.maxTags) tags or dedicated namespaces")
                writer.u8(UInt8(entry.tags.count))
                for tag in entry.tags { writer.shortString(tag) }
                writer.u8(UInt8(entry.dedicatedNamespaces.count))
                for namespace in entry.dedicatedNamespaces { writer.shortString(namespace) }
            }
        case .roomHeartbeat(let room):
            writer.u32(room.freeSlots)
            writer.u32(room.waiting)
            writer.u32(room.slots)
        case .members(let members):
            precondition(members.members.count <= Members.maxMembers, "MEMBERS with more than \(Members.maxMembers) members")
            writer.u64(members.incarnation)
            writer.u16(UInt16(members.members.count))
            for member in members.members {
                writer.shortString(member.brokerID)
                writer.u64(member.incarnation)
                writer.u8(member.state.rawValue)
                writer.shortString(member.controllerEndpoint)
                writer.shortString(member.invokerEndpoint)
                writer.shortString(member.moveTo)
            }
        case .recovered(let recovered):
            writer.u64(recovered.incarnation)
            writer.u32(UInt32(recovered.activationIDs.count))
            for id in recovered.activationIDs { writer.shortString(id) }
        case .invokerHeartbeat(let report):
            encode(report, into: &writer)
        case .controllerHello(let controllerID):
            writer.shortString(controllerID)
        case .invokerHello(let hello):
            writer.shortString(hello.invokerID)
            writer.u32(hello.memoryMB)
            writer.u32(hello.slots)
            precondition(hello.tags.count <= ProtocolConstants.maxTags, "more than \(ProtocolConstants.maxTags) tags")
            writer.u8(UInt8(hello.tags.count))
            for tag in hello.tags { writer.shortString(tag) }
            precondition(hello.dedicatedNamespaces.count <= ProtocolConstants.maxTags, "more than \(ProtocolConstants.maxTags) dedicated namespaces")
            writer.u8(UInt8(hello.dedicatedNamespaces.count))
            for namespace in hello.dedicatedNamespaces { writer.shortString(namespace) }
        case .welcome(let welcome):
            writer.shortString(welcome.brokerID)
            writer.u32(welcome.heartbeatMilliseconds)
            writer.u32(welcome.maxMessageBytes)
        case .error(let report):
            writer.u16(report.code.rawValue)
            writer.shortString(report.activationID)
            writer.longString(report.reason)
        case .activate(let header), .dispatch(let header):
            encode(header, into: &writer)
        case .answer(let answer):
            writer.shortString(answer.activationID)
            writer.u8(answer.kind.rawValue)
            writer.shortString(answer.invokerID)
            writer.longString(answer.reason)
        case .capacity(let capacity):
            writer.u32(capacity.memoryMB)
            writer.u32(capacity.slots)
        case .result(let result):
            writer.shortString(result.activationID)
            writer.u8(result.outcome.rawValue)
        case .completion(let completion):
            writer.shortString(completion.activationID)
            writer.u8((completion.includesResult ? 1 : 0) | (completion.systemError ? 2 : 0) | (completion.warm != nil ? 4 : 0))
            writer.u8(completion.includesResult ? completion.outcome.rawValue : 0)
        case .subscribe(let prefix), .unsubscribe(let prefix):
            writer.shortString(prefix)
        case .publish(let topic):
            writer.shortString(topic)
        case .publication(let header):
            writer.shortString(header.topic)
            writer.u8(header.originRole.rawValue)
            writer.shortString(header.originID)
        }
        return true
    }

    static func encode(_ header: RoutingHeader, into writer: inout ByteWriter) {
        writer.shortString(header.activationID)
        writer.shortString(header.namespace)
        writer.longString(header.action)
        writer.shortString(header.revision)
        writer.u32(header.memoryMB)
        writer.u32(header.timeLimitMilliseconds)
        writer.u8((header.blocking ? 1 : 0) | (header.blackbox ? 2 : 0))
        writer.shortString(header.targetInvoker)
        writer.shortString(header.answerTo)
        precondition(header.requiredTags.count <= ProtocolConstants.maxTags, "more than \(ProtocolConstants.maxTags) required tags")
        writer.u8(UInt8(header.requiredTags.count))
        for tag in header.requiredTags { writer.shortString(tag) }
        writer.u32(header.maxWaitMilliseconds)
    }

    // MARK: Decoding

    /// Decodes a message received on `channel`. Throws a `ProtocolError` whose code is the
    /// ERROR code to reply with (§7) and whose reason names the problem.
    public static func decode<Frame: FrameBytes>(_ frames: [Frame], channel: Channel) throws(ProtocolError) -> Message {
        try decode(frames[...], channel: channel)
    }

    /// Decodes frames that are part of a larger array (the broker's receive buffer, after the
    /// routing id) without copying them into an array of their own.
    @_specialize(exported: true, where Frame == RawFrame)
    public static func decode<Frame: FrameBytes>(_ slice: ArraySlice<Frame>, channel: Channel) throws(ProtocolError) -> Message {
        let frames = ZeroBased(slice)
        // The signature is checked first (§3.1), even when frames are missing.
        if let first = frames.first { try checkSignature(first) }
        guard frames.count >= 2 else {
            throw ProtocolError(.malformed, "a message needs at least 2 frames (signature, command); got \(frames.count) (§3.1)")
        }
        let command = try readCommand(frames[1], channel: channel)
        do throws(ProtocolError) {
            return try decodeBody(command, frames, channel: channel)
        } catch var error {
            error.command = command
            throw error
        }
    }

    static func checkSignature<Frame: FrameBytes>(_ frame: Frame) throws(ProtocolError) {
        let problem: ProtocolError? = frame.withUnsafeBytes { bytes in
            guard bytes.count == 4, bytes[0] == 0x53, bytes[1] == 0x4C, bytes[2] == 0x55 else {
                return ProtocolError(.badSignature, "first frame must be the 4-byte signature 'SLU' + version (§3.1)")
            }
            guard bytes[3] == ProtocolConstants.version else {
                return ProtocolError(.badVersion, "protocol version \(bytes[3]) is not supported; this broker speaks version \(ProtocolConstants.version) (§3.1)")
            }
            return nil
        }
        if let problem { throw problem }
    }

    static func readCommand<Frame: FrameBytes>(_ frame: Frame, channel: Channel) throws(ProtocolError) -> Command {
        guard frame.count == 1 else {
            throw ProtocolError(.malformed, "command frame must be exactly 1 byte; got \(frame.count) (§3.1)")
        }
        let byte = frame.withUnsafeBytes { $0[0] }
        guard let command = Command(rawValue: byte) else {
            throw ProtocolError(.unknownCommand, "unknown command byte 0x\(String(byte, radix: 16)) (§4)")
        }
        guard channel.allows(command) else {
            throw ProtocolError(.unexpectedCommand, "\(command) is not allowed on this endpoint (§4)", command: command)
        }
        return command
    }

    static func expectFrames(_ count: Int, _ expected: Int, _ command: Command) throws(ProtocolError) {
        guard count == expected else {
            throw ProtocolError(.malformed, "\(command) takes \(expected) frames; got \(count) (§4)")
        }
    }

    /// The activation id at the start of a header frame, if one can be read: lets an ACTIVATE
    /// with the wrong frame count still be answered `rejected` (§7).
    static func leadingActivationID<Frame: FrameBytes>(_ frame: Frame) -> String? {
        frame.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes, frameName: "header")
            return try? reader.id("activation id")
        }
    }

    static func withReader<Frame: FrameBytes, T>(
        _ frame: Frame, _ name: String, _ body: (inout ByteReader) throws(ProtocolError) -> T
    ) throws(ProtocolError) -> T {
        let result: Result<T, ProtocolError> = frame.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes, frameName: name)
            do throws(ProtocolError) {
                let value = try body(&reader)
                try reader.finish()
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    static func decodeBody<Frame: FrameBytes>(_ command: Command, _ frames: ZeroBased<Frame>, channel: Channel) throws(ProtocolError) -> Message {
        do {
            return try decodeFields(command, frames, channel: channel)
        } catch var error where error.activationID == nil && (command == .result || command == .completion) && frames.count >= 3 {
            // §4.5: a refused RESULT or COMPLETION names its activation whenever its header frame
            // begins with a valid id, whatever is wrong after it (frame count, a field, surplus).
            error.activationID = leadingActivationID(frames[2])
            throw error
        }
    }

    static func decodeFields<Frame: FrameBytes>(_ command: Command, _ frames: ZeroBased<Frame>, channel: Channel) throws(ProtocolError) -> Message {
        let count = frames.count
        switch command {
        case .heartbeat:
            if count == 3 && channel == .invokerToBroker {
                return .invokerHeartbeat(try withReader(frames[2], "HEARTBEAT warm report") { (reader: inout ByteReader) throws(ProtocolError) in
                    try decodeWarmReport(&reader)
                })
            }
            if count == 3 && (channel == .brokerToController || channel == .brokerToInvoker) {
                return .roomHeartbeat(try withReader(frames[2], "HEARTBEAT room") { (reader: inout ByteReader) throws(ProtocolError) in
                    Room(freeSlots: try reader.u32("free-slots"), waiting: try reader.u32("waiting"), slots: try reader.u32("slots"))
                })
            }
            try expectFrames(count, 2, command)
            return .heartbeat
        case .goodbye:
            try expectFrames(count, 2, command)
            return .goodbye
        case .cluster:
            try expectFrames(count, 2, command)
            return .cluster
        case .follow:
            try expectFrames(count, 2, command)
            return .follow
        case .invokers:
            try expectFrames(count, 2, command)
            return .invokers
        case .completed:
            try expectFrames(count, 3, command)
            return .completed(try withReader(frames[2], "COMPLETED") { (reader: inout ByteReader) throws(ProtocolError) in
                let id = try reader.id("activation id")
                let invoker = try reader.id("invoker id")
                let flags = try reader.u8("completed-flags")
                let cause: CompletedNotice.Cause
                switch flags & 0xFE {
                case 0: cause = .completion
                case 2: cause = .invokerLost
                case 4: cause = .timeout
                default: throw ProtocolError(.malformed, "COMPLETED flags 0x\(String(flags, radix: 16)): at most one of bits 1 and 2, bits 3-7 zero (§10.1)")
                }
                return CompletedNotice(activationID: id, invokerID: invoker, systemError: flags & 1 != 0, cause: cause)
            })
        case .inventory:
            try expectFrames(count, 3, command)
            return .inventory(try withReader(frames[2], "INVENTORY") { (reader: inout ByteReader) throws(ProtocolError) in
                let controllers = try reader.u16("controllers")
                let count = Int(try reader.u16("invoker-count"))
                var entries: [Inventory.Entry] = []
                for _ in 0..<count {
                    let id = try reader.id("invoker id")
                    let rawHealth = try reader.u8("health")
                    guard let health = Inventory.Health(rawValue: rawHealth) else {
                        throw ProtocolError(.malformed, "INVENTORY health \(rawHealth) for '\(id)' is not 0-4 (§10.1)")
                    }
                    let memory = try reader.u32("memory-mb"), slots = try reader.u32("slots")
                    let usedMemory = try reader.u32("used-memory-mb"), usedSlots = try reader.u32("used-slots")
                    let tags = try decodeNames(&reader, what: "tag", maxLength: ProtocolConstants.maxTagLength, section: "§10.1")
                    let dedicated = try decodeNames(&reader, what: "dedicated namespace", maxLength: ProtocolConstants.maxNamespaceLength, section: "§10.1")
                    entries.append(Inventory.Entry(invokerID: id, health: health, memoryMB: memory, slots: slots, usedMemoryMB: usedMemory,
                                                   usedSlots: usedSlots, tags: tags, dedicatedNamespaces: dedicated))
                }
                return Inventory(controllers: controllers, invokers: entries)
            })
        case .members:
            try expectFrames(count, 3, command)
            return .members(try withReader(frames[2], "MEMBERS") { (reader: inout ByteReader) throws(ProtocolError) in
                try decodeMembers(&reader)
            })
        case .recovered:
            try expectFrames(count, 3, command)
            return .recovered(try withReader(frames[2], "RECOVERED") { (reader: inout ByteReader) throws(ProtocolError) in
                let incarnation = try reader.u64("incarnation")
                let count = Int(try reader.u32("id-count"))
                // Each id takes at least 2 bytes: a larger count cannot be true.
                guard count <= reader.remaining / 2 else {
                    throw ProtocolError(.malformed, "RECOVERED says \(count) ids but has room for at most \(reader.remaining / 2) (§9.1)")
                }
                var ids: [String] = []
                ids.reserveCapacity(count)
                for _ in 0..<count { ids.append(try reader.id("activation id")) }
                return Recovered(incarnation: incarnation, activationIDs: ids)
            })
        case .hello:
            try expectFrames(count, 3, command)
            if channel == .controllerToBroker {
                let id = try withReader(frames[2], "HELLO") { (reader: inout ByteReader) throws(ProtocolError) in
                    try reader.id("controller id")
                }
                return .controllerHello(controllerID: id)
            }
            return .invokerHello(try withReader(frames[2], "HELLO") { (reader: inout ByteReader) throws(ProtocolError) in
                try decodeInvokerHello(&reader)
            })
        case .welcome:
            try expectFrames(count, 3, command)
            return .welcome(try withReader(frames[2], "WELCOME") { (reader: inout ByteReader) throws(ProtocolError) in
                Welcome(brokerID: try reader.id("broker id"), heartbeatMilliseconds: try reader.u32("heartbeat-ms"),
                        maxMessageBytes: try reader.u32("max-message"))
            })
        case .error:
            try expectFrames(count, 3, command)
            return .error(try withReader(frames[2], "ERROR") { (reader: inout ByteReader) throws(ProtocolError) in
                let code = ErrorCode(rawValue: try reader.u16("code"))
                return ErrorReport(code: code, activationID: try reader.shortString("activation-ref"), reason: try reader.longString("reason"))
            })
        case .activate, .dispatch:
            do throws(ProtocolError) {
                try expectFrames(count, 4, command)
            } catch var error {
                if count >= 3 { error.activationID = leadingActivationID(frames[2]) }
                throw error
            }
            let header = try withReader(frames[2], command == .activate ? "ACTIVATE routing header" : "DISPATCH routing header") { (reader: inout ByteReader) throws(ProtocolError) in
                try decodeRoutingHeader(&reader)
            }
            return command == .activate ? .activate(header) : .dispatch(header)
        case .answer:
            try expectFrames(count, 4, command)
            return .answer(try withReader(frames[2], "ANSWER header") { (reader: inout ByteReader) throws(ProtocolError) in
                let id = try reader.id("activation id")
                let rawKind = try reader.u8("kind")
                guard let kind = AnswerKind(rawValue: rawKind) else {
                    throw ProtocolError(.malformed, "ANSWER kind \(rawKind) is unknown (§6.2)", activationID: id)
                }
                guard kind != .brokerLost else {
                    throw ProtocolError(.malformed, "ANSWER kind 9 (brokerLost) is made by a client, never sent by a broker (§9.2)", activationID: id)
                }
                return AnswerHeader(activationID: id, kind: kind, invokerID: try reader.id("invoker-ref", optional: true),
                                    reason: try reader.longString("reason"))
            })
        case .capacity:
            try expectFrames(count, 3, command)
            return .capacity(try withReader(frames[2], "CAPACITY") { (reader: inout ByteReader) throws(ProtocolError) in
                let capacity = Capacity(memoryMB: try reader.u32("memory-mb"), slots: try reader.u32("slots"))
                if !capacity.drains && (capacity.memoryMB == 0 || capacity.slots == 0) {
                    throw ProtocolError(.malformed, "CAPACITY must be both 0 (drain) or both >= 1; got memory-mb \(capacity.memoryMB), slots \(capacity.slots) (§4.8)")
                }
                return capacity
            })
        case .result:
            try expectFrames(count, 4, command)
            return .result(try withReader(frames[2], "RESULT header") { (reader: inout ByteReader) throws(ProtocolError) in
                let id = try reader.id("activation id")
                return ResultHeader(activationID: id, outcome: try readOutcome(&reader, id))
            })
        case .completion:
            let completionHeader = try withReader(frames[2 < count ? 2 : 0], "COMPLETION header") { (reader: inout ByteReader) throws(ProtocolError) in
                guard count >= 3 else {
                    throw ProtocolError(.malformed, "COMPLETION takes 3 or 4 frames; got \(count) (§4.11)")
                }
                let id = try reader.id("activation id")
                let flags = try reader.u8("completion-flags")
                guard flags & ~0b111 == 0 else {
                    throw ProtocolError(.malformed, "COMPLETION flags 0x\(String(flags, radix: 16)) set reserved bits (§4.11)", activationID: id)
                }
                let outcome = try readOutcome(&reader, id)
                let includesResult = flags & 1 != 0
                if !includesResult && outcome != .success {
                    throw ProtocolError(.malformed, "COMPLETION without a result must carry outcome 0 (§4.11)", activationID: id)
                }
                var header = CompletionHeader(activationID: id, includesResult: includesResult, systemError: flags & 2 != 0, outcome: outcome)
                // Marks that a warm report follows; decoded below.
                if flags & 4 != 0 { header.warm = WarmReport([]) }
                return header
            }
            var header = completionHeader
            let expected = 3 + (header.includesResult ? 1 : 0) + (header.warm != nil ? 1 : 0)
            guard count == expected else {
                throw ProtocolError(.malformed, "COMPLETION \(header.includesResult ? "with" : "without") a result\(header.warm != nil ? " and with a warm report" : "") takes \(expected) frames; got \(count) (§4.11)",
                                    activationID: header.activationID)
            }
            if header.warm != nil {
                do throws(ProtocolError) {
                    header.warm = try withReader(frames[count - 1], "COMPLETION warm report") { (reader: inout ByteReader) throws(ProtocolError) in
                        try decodeWarmReport(&reader)
                    }
                } catch var error {
                    error.activationID = header.activationID
                    throw error
                }
            }
            return .completion(header)
        case .subscribe, .unsubscribe:
            try expectFrames(count, 3, command)
            let prefix = try withReader(frames[2], command == .subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE") { (reader: inout ByteReader) throws(ProtocolError) in
                let value = try reader.shortString("topic-prefix")
                try Topic.validate(value, field: "topic-prefix", prefix: true)
                return value
            }
            return command == .subscribe ? .subscribe(prefix: prefix) : .unsubscribe(prefix: prefix)
        case .publish:
            try expectFrames(count, 4, command)
            let toBroker = channel == .controllerToBroker || channel == .invokerToBroker
            return try withReader(frames[2], "PUBLISH header") { (reader: inout ByteReader) throws(ProtocolError) in
                let topic = try reader.shortString("topic")
                try Topic.validate(topic, field: "topic")
                if toBroker { return .publish(topic: topic) }
                let rawRole = try reader.u8("origin-role")
                guard let role = PeerRole(rawValue: rawRole) else {
                    throw ProtocolError(.malformed, "PUBLISH origin-role \(rawRole) is unknown (§4.14)")
                }
                return .publication(PublicationHeader(topic: topic, originRole: role, originID: try reader.id("origin")))
            }
        }
    }

    static func decodeMembers(_ reader: inout ByteReader) throws(ProtocolError) -> Members {
        let incarnation = try reader.u64("incarnation")
        let count = Int(try reader.u16("member-count"))
        guard count <= Members.maxMembers else {
            throw ProtocolError(.oversize, "MEMBERS lists \(count) members; at most \(Members.maxMembers) (§9.1)")
        }
        var members: [ClusterMember] = []
        for _ in 0..<count {
            let id = try reader.id("broker id")
            let memberIncarnation = try reader.u64("member-incarnation")
            let rawState = try reader.u8("state")
            guard let state = MemberState(rawValue: rawState) else {
                throw ProtocolError(.malformed, "MEMBERS state \(rawState) for broker '\(id)' is unknown; expected 0 or 1 (§9.1)")
            }
            let controllerEndpoint = try reader.shortString("controller-endpoint")
            let invokerEndpoint = try reader.shortString("invoker-endpoint")
            let moveTo = try reader.id("move-to", optional: true)
            members.append(ClusterMember(brokerID: id, incarnation: memberIncarnation, state: state, controllerEndpoint: controllerEndpoint,
                                         invokerEndpoint: invokerEndpoint, moveTo: moveTo))
        }
        return Members(incarnation: incarnation, members: members)
    }

    static func readOutcome(_ reader: inout ByteReader, _ id: String) throws(ProtocolError) -> Outcome {
        let raw = try reader.u8("outcome")
        guard let outcome = Outcome(rawValue: raw) else {
            throw ProtocolError(.malformed, "outcome \(raw) is unknown; expected 0, 1 or 2 (§4.10)", activationID: id)
        }
        return outcome
    }

    static func decodeWarmReport(_ reader: inout ByteReader) throws(ProtocolError) -> WarmReport {
        let count = Int(try reader.u16("entry-count"))
        guard count <= WarmReport.maxEntries else {
            throw ProtocolError(.oversize, "warm report has \(count) entries; at most \(WarmReport.maxEntries) (§4.12)")
        }
        var entries: [WarmReport.Entry] = []
        entries.reserveCapacity(count)
        // Each action at most once (§4.12, "Broken reports"); a set only when there can be a repeat.
        var seen: Set<String> = []
        if count > 1 { seen.reserveCapacity(count) }
        for _ in 0..<count {
            let action = try reader.longString("action")
            guard !action.isEmpty, action.utf8.count <= ProtocolConstants.maxActionLength else {
                throw ProtocolError(.malformed, "warm report action must be 1..\(ProtocolConstants.maxActionLength) bytes (§4.12)")
            }
            let idle = try reader.u16("idle")
            let total = try reader.u16("total")
            guard total >= 1, idle <= total else {
                throw ProtocolError(.malformed, "warm report for '\(action)': need total >= 1 and idle <= total; got idle \(idle), total \(total) (§4.12)")
            }
            if count > 1 {
                guard seen.insert(action).inserted else {
                    throw ProtocolError(.malformed, "warm report lists action '\(action)' twice (§4.12)")
                }
            }
            entries.append(WarmReport.Entry(action: action, idle: idle, total: total))
        }
        return WarmReport(entries)
    }

    /// A list of tags or namespaces: count u8 (at most 32), then short strings of 1..`maxLength` bytes.
    static func decodeNames(_ reader: inout ByteReader, what: String, maxLength: Int, section: String) throws(ProtocolError) -> [String] {
        let count = Int(try reader.u8("\(what) count"))
        guard count <= ProtocolConstants.maxTags else {
            throw ProtocolError(.oversize, "\(count) \(what)s; at most \(ProtocolConstants.maxTags) (\(section))")
        }
        var names: [String] = []
        for _ in 0..<count {
            let name = try reader.shortString(what)
            guard !name.isEmpty else { throw ProtocolError(.malformed, "\(what)s must not be empty (\(section))") }
            guard name.utf8.count <= maxLength else {
                throw ProtocolError(.oversize, "\(what) is \(name.utf8.count) bytes; at most \(maxLength) (\(section))")
            }
            names.append(name)
        }
        return names
    }

    static func decodeInvokerHello(_ reader: inout ByteReader) throws(ProtocolError) -> InvokerHello {
        let id = try reader.id("invoker id")
        let memory = try reader.u32("memory-mb")
        let slots = try reader.u32("slots")
        // Both >= 1, or both 0: an invoker that is drained says so (§4.1).
        guard (memory >= 1 && slots >= 1) || (memory == 0 && slots == 0) else {
            throw ProtocolError(.malformed, "invoker HELLO needs memory-mb and slots both >= 1, or both 0 (drained); got \(memory) and \(slots) (§4.1)")
        }
        let tags = try decodeNames(&reader, what: "tag", maxLength: ProtocolConstants.maxTagLength, section: "§4.1")
        let dedicated = try decodeNames(&reader, what: "dedicated namespace", maxLength: ProtocolConstants.maxNamespaceLength, section: "§4.1")
        if let bad = dedicated.first(where: Text.containsControlCharacter) {
            throw ProtocolError(.malformed, "dedicated namespace '\(bad.debugDescription)' contains control characters (§4.1)")
        }
        return InvokerHello(invokerID: id, memoryMB: memory, slots: slots, tags: tags, dedicatedNamespaces: dedicated)
    }

    static func decodeRoutingHeader(_ reader: inout ByteReader) throws(ProtocolError) -> RoutingHeader {
        let id = try reader.id("activation id")
        do throws(ProtocolError) {
            let namespace = try reader.shortString("namespace")
            guard !namespace.isEmpty, !Text.containsControlCharacter(namespace) else {
                throw ProtocolError(.malformed, "namespace must be 1..255 bytes without control characters (§4.6)")
            }
            let action = try reader.longString("action")
            guard !action.isEmpty else { throw ProtocolError(.malformed, "action must not be empty (§4.6)") }
            guard action.utf8.count <= ProtocolConstants.maxActionLength else {
                throw ProtocolError(.oversize, "action is \(action.utf8.count) bytes; at most \(ProtocolConstants.maxActionLength) (§4.6)")
            }
            let revision = try reader.shortString("revision")
            let memory = try reader.u32("memory-mb")
            let timeLimit = try reader.u32("time-limit-ms")
            guard memory >= 1, timeLimit >= 1 else {
                throw ProtocolError(.malformed, "memory-mb and time-limit-ms must be >= 1; got \(memory) and \(timeLimit) (§4.6)")
            }
            let flags = try reader.u8("flags")
            guard flags & ~0b11 == 0 else {
                throw ProtocolError(.malformed, "flags 0x\(String(flags, radix: 16)) set reserved bits (§4.6)")
            }
            let target = try reader.id("target-invoker", optional: true)
            let answerTo = try reader.id("answer-to", optional: true)
            let requiredTags = try decodeNames(&reader, what: "required tag", maxLength: ProtocolConstants.maxTagLength, section: "§4.6")
            let maxWait = try reader.u32("max-wait-ms")
            try reader.finish()
            return RoutingHeader(activationID: id, namespace: namespace, action: action, revision: revision,
                                 memoryMB: memory, timeLimitMilliseconds: timeLimit, blocking: flags & 1 != 0,
                                 blackbox: flags & 2 != 0, targetInvoker: target, answerTo: answerTo,
                                 requiredTags: requiredTags, maxWaitMilliseconds: maxWait)
        } catch var error {
            error.activationID = id
            throw error
        }
    }
}

/// An array slice indexed from 0, whatever its position in the array it comes from.
struct ZeroBased<Frame> {
    let base: ArraySlice<Frame>

    init(_ base: ArraySlice<Frame>) { self.base = base }

    var count: Int { base.count }
    var first: Frame? { base.first }
    subscript(index: Int) -> Frame { base[base.startIndex + index] }
}

// MARK: The routing header on its own

extension Codec {
    /// The routing header exactly as ACTIVATE and DISPATCH carry it in their header frame
    /// (§4.6). Stores that keep headers (the disk overflow store) use this encoding, so a field
    /// added to the wire is kept everywhere by the same code.
    public static func encodeRoutingHeader(_ header: RoutingHeader) -> [UInt8] {
        var writer = ByteWriter()
        encode(header, into: &writer)
        return writer.bytes
    }

    /// Reads a routing header written by `encodeRoutingHeader`, with the same checks as an
    /// ACTIVATE header (§4.6). Throws a `ProtocolError` naming the field when it is invalid.
    public static func decodeRoutingHeader(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) -> RoutingHeader {
        var reader = ByteReader(bytes, frameName: "routing header")
        return try decodeRoutingHeader(&reader)
    }
}
