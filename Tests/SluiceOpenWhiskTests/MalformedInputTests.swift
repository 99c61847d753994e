import Testing
import SluiceOpenWhisk
import SluiceProtocol

// Malformed input: every row is one defect in an otherwise valid message, and the error must
// name the field concerned (`field` exactly, and `message` starting with "<field>: ").
// `baseMessagesAreValid` checks the unmodified bases, so each row fails only for its defect.

/// One malformed input and the field its error must name.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    var name: String
    var json: [UInt8]
    var field: String
    var problem: String

    init(_ name: String, _ json: String, field: String, problem: String) {
        self.name = name
        self.json = Array(json.utf8)
        self.field = field
        self.problem = problem
    }

    init(_ name: String, bytes: [UInt8], field: String, problem: String) {
        self.name = name
        self.json = bytes
        self.field = field
        self.problem = problem
    }

    var testDescription: String { name }
}

/// The prefix of `text` up to and including the first occurrence of `marker`.
private func cut(_ text: String, after marker: String) -> String {
    guard let range = text.range(of: marker) else { return text }
    return String(text[..<range.upperBound])
}

private let base = activation(set: "blocking", to: "true")

private let activationCases: [MalformedCase] = [
    // Syntax and truncation: the error names the field where the input stopped.
    MalformedCase("empty input", "", field: "(top level)", problem: "empty input"),
    MalformedCase("whitespace only", "  \n ", field: "(top level)", problem: "empty input"),
    MalformedCase("truncated after the opening brace", "{", field: "(top level)", problem: "truncated"),
    MalformedCase("truncated inside transid", cut(base, after: #"["tid_1",17"#), field: "transid", problem: "truncated"),
    MalformedCase("truncated inside transid id", cut(base, after: #"["tid"#), field: "transid[0]", problem: "truncated"),
    MalformedCase("truncated inside user.namespace.name", cut(base, after: #""name":"gue"#), field: "user.namespace.name", problem: "truncated"),
    MalformedCase("truncated inside the activation id", cut(base, after: #""activationId":"0f1e"#), field: "activationId", problem: "truncated"),
    MalformedCase("truncated after a member name", cut(base, after: #""blocking""#), field: "(top level)", problem: "truncated"),
    MalformedCase("truncated inside a literal", cut(base, after: #""blocking":tr"#), field: "blocking", problem: "truncated"),
    MalformedCase("truncated before the closing brace", String(base.dropLast()), field: "(top level)", problem: "truncated"),
    MalformedCase("truncated inside content", cut(fullActivationJSON, after: #""nested":{"list":[1,2.5"#), field: "content", problem: "truncated"),
    MalformedCase("trailing data", base + " {}", field: "(top level)", problem: "unexpected data"),
    MalformedCase("trailing comma", String(base.dropLast()) + ",}", field: "(top level)", problem: "member name"),
    MalformedCase("single quotes", activation(set: "blocking", to: "'yes'"), field: "blocking", problem: "unexpected character"),
    MalformedCase("bad escape in the namespace", activation(set: "user", to: #"{"namespace":{"name":"gu\qest"}}"#), field: "user.namespace.name", problem: "escape"),
    MalformedCase("lone surrogate in the namespace", activation(set: "user", to: #"{"namespace":{"name":"\udc00"}}"#), field: "user.namespace.name", problem: "surrogate"),
    MalformedCase("raw newline in a string", activation(set: "revision", to: "\"1-\nabc\""), field: "revision", problem: "control character"),
    MalformedCase("leading zero", activation(set: "transid", to: #"["t",017]"#), field: "transid", problem: "expected ','"),
    MalformedCase("nesting bomb in content", activation(set: "content", to: String(repeating: #"{"a":"#, count: 1100)), field: "content", problem: "nesting deeper"),

    // Not an object at the top.
    MalformedCase("top level array", "[1,2,3]", field: "(top level)", problem: "expected a JSON object, found an array"),
    MalformedCase("top level string", #""hello""#, field: "(top level)", problem: "found a string"),
    MalformedCase("top level null", "null", field: "(top level)", problem: "found null"),
    MalformedCase("top level number", "42", field: "(top level)", problem: "found a number"),

    // Missing required fields.
    MalformedCase("missing activationId", activation(set: "activationId", to: nil), field: "activationId", problem: "missing"),
    MalformedCase("missing transid", activation(set: "transid", to: nil), field: "transid", problem: "missing"),
    MalformedCase("missing action", activation(set: "action", to: nil), field: "action", problem: "missing"),
    MalformedCase("missing action.path", activation(set: "action", to: #"{"name":"hello"}"#), field: "action.path", problem: "missing"),
    MalformedCase("missing action.name", activation(set: "action", to: #"{"path":"guest"}"#), field: "action.name", problem: "missing"),
    MalformedCase("missing revision", activation(set: "revision", to: nil), field: "revision", problem: "missing"),
    MalformedCase("missing user", activation(set: "user", to: nil), field: "user", problem: "missing"),
    MalformedCase("missing user.namespace", activation(set: "user", to: #"{"subject":"guest"}"#), field: "user.namespace", problem: "missing"),
    MalformedCase("missing user.namespace.name", activation(set: "user", to: #"{"namespace":{"uuid":"u"}}"#), field: "user.namespace.name", problem: "missing"),
    MalformedCase("missing rootControllerIndex", activation(set: "rootControllerIndex", to: nil), field: "rootControllerIndex", problem: "missing"),
    MalformedCase("missing rootControllerIndex.asString", activation(set: "rootControllerIndex", to: #"{"instanceType":"controller"}"#), field: "rootControllerIndex.asString", problem: "missing"),
    MalformedCase("missing blocking", activation(set: "blocking", to: nil), field: "blocking", problem: "missing"),

    // Wrong types.
    MalformedCase("activationId a number", activation(set: "activationId", to: "12345678901234567890123456789012"), field: "activationId", problem: "expected a string, found a number"),
    MalformedCase("activationId null", activation(set: "activationId", to: "null"), field: "activationId", problem: "expected a string, found null"),
    MalformedCase("action a number", activation(set: "action", to: "5"), field: "action", problem: "expected an object, found a number"),
    MalformedCase("action.name a number", activation(set: "action", to: #"{"path":"guest","name":42}"#), field: "action.name", problem: "expected a string, found a number"),
    MalformedCase("action.path an array", activation(set: "action", to: #"{"path":["guest"],"name":"x"}"#), field: "action.path", problem: "expected a string, found an array"),
    MalformedCase("action.version a number", activation(set: "action", to: #"{"path":"guest","name":"x","version":1}"#), field: "action.version", problem: "expected a string"),
    MalformedCase("action string without a namespace", activation(set: "action", to: #""hello""#), field: "action", problem: "fully qualified"),
    MalformedCase("empty action.name", activation(set: "action", to: #"{"path":"guest","name":""}"#), field: "action.name", problem: "non-empty"),
    MalformedCase("empty action.path", activation(set: "action", to: #"{"path":"","name":"x"}"#), field: "action.path", problem: "empty"),
    MalformedCase("revision a number", activation(set: "revision", to: "5"), field: "revision", problem: "expected a string or null, found a number"),
    MalformedCase("user a string", activation(set: "user", to: #""guest""#), field: "user", problem: "expected an object, found a string"),
    MalformedCase("user.namespace a number", activation(set: "user", to: #"{"namespace":7}"#), field: "user.namespace", problem: "expected an object or a string, found a number"),
    MalformedCase("user.namespace.name a boolean", activation(set: "user", to: #"{"namespace":{"name":true}}"#), field: "user.namespace.name", problem: "expected a string, found a boolean"),
    MalformedCase("user.subject a number", activation(set: "user", to: #"{"subject":1,"namespace":"guest"}"#), field: "user.subject", problem: "expected a string"),
    MalformedCase("empty namespace", activation(set: "user", to: #"{"namespace":{"name":""}}"#), field: "user.namespace.name", problem: "empty"),
    MalformedCase("namespace with a control character", activation(set: "user", to: #"{"namespace":"gu\u0007est"}"#), field: "user.namespace", problem: "control"),
    MalformedCase("namespace too long", activation(set: "user", to: #"{"namespace":"\#(String(repeating: "n", count: 256))"}"#), field: "user.namespace", problem: "at most 255"),
    MalformedCase("blocking a string", activation(set: "blocking", to: #""yes""#), field: "blocking", problem: "expected a boolean, found a string"),
    MalformedCase("blocking a number", activation(set: "blocking", to: "1"), field: "blocking", problem: "expected a boolean, found a number"),
    MalformedCase("transid a string", activation(set: "transid", to: #""tid""#), field: "transid", problem: "expected an array"),
    MalformedCase("transid too short", activation(set: "transid", to: #"["tid"]"#), field: "transid", problem: "1 elements"),
    MalformedCase("transid id a number", activation(set: "transid", to: "[1,2]"), field: "transid[0]", problem: "expected a string"),
    MalformedCase("transid start a string", activation(set: "transid", to: #"["t","now"]"#), field: "transid[1]", problem: "expected a number"),
    MalformedCase("transid extraLogging a string", activation(set: "transid", to: #"["t",1,"yes"]"#), field: "transid[2]", problem: "expected a boolean"),
    MalformedCase("rootControllerIndex a boolean", activation(set: "rootControllerIndex", to: "true"), field: "rootControllerIndex", problem: "expected an object, found a boolean"),
    MalformedCase("rootControllerIndex.asString a number", activation(set: "rootControllerIndex", to: #"{"asString":0}"#), field: "rootControllerIndex.asString", problem: "expected a string"),
    MalformedCase("rootControllerIndex of an invoker", activation(set: "rootControllerIndex", to: #"{"asString":"0","instanceType":"invoker"}"#), field: "rootControllerIndex.instanceType", problem: "expected \"controller\""),
    MalformedCase("rootControllerIndex.instance a string", activation(set: "rootControllerIndex", to: #"{"instance":"1"}"#), field: "rootControllerIndex.instance", problem: "expected an integer"),
    MalformedCase("rootControllerIndex.instance fractional", activation(set: "rootControllerIndex", to: #"{"instance":1.5}"#), field: "rootControllerIndex.instance", problem: "expected an integer"),
    MalformedCase("rootControllerIndex.instance negative", activation(set: "rootControllerIndex", to: #"{"instance":-1}"#), field: "rootControllerIndex.instance", problem: "negative"),
    MalformedCase("content an array", activation(set: "content", to: "[1]"), field: "content", problem: "expected an object, found an array"),
    MalformedCase("content a string", activation(set: "content", to: #""{}""#), field: "content", problem: "expected an object, found a string"),
    MalformedCase("initArgs an object", activation(set: "initArgs", to: "{}"), field: "initArgs", problem: "expected an array"),
    MalformedCase("lockedArgs an array", activation(set: "lockedArgs", to: "[]"), field: "lockedArgs", problem: "expected an object"),
    MalformedCase("traceContext a string", activation(set: "traceContext", to: #""x""#), field: "traceContext", problem: "expected an object"),
    MalformedCase("cause a number", activation(set: "cause", to: "7"), field: "cause", problem: "expected a string"),
    MalformedCase("cause not an activation id", activation(set: "cause", to: #""abc""#), field: "cause", problem: "32 lowercase hexadecimal"),

    // Bad identifiers.
    MalformedCase("activation id with uppercase", activation(set: "activationId", to: #""0F1E2D3C4B5A69788796A5B4C3D2E1F0""#), field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("activation id with non-hex letters", activation(set: "activationId", to: #""zz1e2d3c4b5a69788796a5b4c3d2e1f0""#), field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("activation id with a slash", activation(set: "activationId", to: #""../e2d3c4b5a69788796a5b4c3d2e1f0""#), field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("activation id too short", activation(set: "activationId", to: #""0f1e2d3c""#), field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("activation id too long", activation(set: "activationId", to: #""0f1e2d3c4b5a69788796a5b4c3d2e1f00""#), field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("activation id empty", activation(set: "activationId", to: "\"\""), field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("activation id with dashes (a UUID)", activation(set: "activationId", to: #""0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0""#), field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("controller id with a space", activation(set: "rootControllerIndex", to: #"{"asString":"ctl 0"}"#), field: "rootControllerIndex.asString", problem: "not a valid Sluice id"),
    MalformedCase("controller id empty", activation(set: "rootControllerIndex", to: #"{"asString":""}"#), field: "rootControllerIndex.asString", problem: "not a valid Sluice id"),
    MalformedCase("controller id too long", activation(set: "rootControllerIndex", to: #""\#(String(repeating: "c", count: 129))""#), field: "rootControllerIndex", problem: "not a valid Sluice id"),
    MalformedCase("action name too long", activation(set: "action", to: #"{"path":"guest","name":"\#(String(repeating: "a", count: 1100))"}"#), field: "action", problem: "at most 1024"),
]

private let invalidUTF8Cases: [MalformedCase] = {
    // "name":"gu<0xFF>est" inside user.namespace
    var withBadByte = Array(activation(set: "user", to: #"{"namespace":{"name":"guXest"}}"#).utf8)
    if let index = withBadByte.firstIndex(of: UInt8(ascii: "X")) { withBadByte[index] = 0xFF }
    return [MalformedCase("invalid UTF-8 in the namespace", bytes: withBadByte, field: "user.namespace.name", problem: "UTF-8")]
}()

private let acknowledgementCases: [MalformedCase] = [
    MalformedCase("truncated combined", cut(combinedAckJSON(), after: #""response":{"namespace":"al"#), field: "response.namespace", problem: "truncated"),
    MalformedCase("truncated inside the result", cut(combinedAckJSON(), after: #""result":{"payload":"h"#), field: "response.response.result", problem: "truncated"),
    MalformedCase("top level array", "[]", field: "(top level)", problem: "expected a JSON object"),
    MalformedCase("missing transid", #"{"response":"\#(sampleActivationID)"}"#, field: "transid", problem: "missing"),
    MalformedCase("neither instance nor response", #"{"transid":["t",1],"activationId":"\#(sampleActivationID)","isSystemError":false}"#, field: "response", problem: "missing"),
    MalformedCase("completion without activationId", #"{"transid":["t",1],"isSystemError":false,"instance":\#(invokerInstanceJSON)}"#, field: "activationId", problem: "missing"),
    MalformedCase("completion with a bad activationId", #"{"transid":["t",1],"activationId":"nope","isSystemError":false,"instance":\#(invokerInstanceJSON)}"#, field: "activationId", problem: "32 lowercase hexadecimal"),
    MalformedCase("isSystemError a string", #"{"transid":["t",1],"activationId":"\#(sampleActivationID)","isSystemError":"no","instance":\#(invokerInstanceJSON)}"#, field: "isSystemError", problem: "expected a boolean, found a string"),
    MalformedCase("instance a string", #"{"transid":["t",1],"activationId":"\#(sampleActivationID)","isSystemError":false,"instance":"invoker0"}"#, field: "instance", problem: "expected an object, found a string"),
    MalformedCase("instance.instance a string", #"{"transid":["t",1],"activationId":"\#(sampleActivationID)","instance":{"instance":"0"}}"#, field: "instance.instance", problem: "expected an integer"),
    MalformedCase("response a number", #"{"transid":["t",1],"response":42}"#, field: "response", problem: "found a number"),
    MalformedCase("shrunk response not an activation id", #"{"transid":["t",1],"response":"xyz","isSystemError":false,"instance":\#(invokerInstanceJSON)}"#, field: "response", problem: "32 lowercase hexadecimal"),
    MalformedCase("record without activationId", #"{"transid":["t",1],"response":{"response":{"statusCode":0}}}"#, field: "response.activationId", problem: "missing"),
    MalformedCase("record activationId a number", #"{"transid":["t",1],"response":{"activationId":5}}"#, field: "response.activationId", problem: "expected a string"),
    MalformedCase("record response a string", #"{"transid":["t",1],"response":{"activationId":"\#(sampleActivationID)","response":"ok"}}"#, field: "response.response", problem: "expected an object"),
    MalformedCase("statusCode a string", #"{"transid":["t",1],"response":{"activationId":"\#(sampleActivationID)","response":{"statusCode":"0"}}}"#, field: "response.response.statusCode", problem: "expected an integer, found a string"),
]

private let pingCases: [MalformedCase] = [
    MalformedCase("truncated ping", cut(pingJSON(), after: #""userMemory":"20"#), field: "name.userMemory", problem: "truncated"),
    MalformedCase("top level string", #""ping""#, field: "(top level)", problem: "expected a JSON object"),
    MalformedCase("missing name", #"{"isEnabled":true}"#, field: "name", problem: "missing"),
    MalformedCase("name a number", #"{"name":3}"#, field: "name", problem: "expected an object, found a number"),
    MalformedCase("missing instance", #"{"name":{"userMemory":"2048 MB"}}"#, field: "name.instance", problem: "missing"),
    MalformedCase("instance a string", #"{"name":{"instance":"3","userMemory":"2048 MB"}}"#, field: "name.instance", problem: "expected an integer, found a string"),
    MalformedCase("instance negative", #"{"name":{"instance":-2,"userMemory":"2048 MB"}}"#, field: "name.instance", problem: "negative"),
    MalformedCase("instanceType controller", #"{"name":{"instance":3,"userMemory":"2048 MB","instanceType":"controller"}}"#, field: "name.instanceType", problem: "expected \"invoker\""),
    MalformedCase("userMemory not a size", pingJSON(userMemory: #""lots""#), field: "name.userMemory", problem: "2048 MB"),
    MalformedCase("userMemory an unknown unit", pingJSON(userMemory: #""2 TB""#), field: "name.userMemory", problem: "2048 MB"),
    MalformedCase("userMemory under 1 MB", pingJSON(userMemory: #""1000 B""#), field: "name.userMemory", problem: "at least 1 MB"),
    MalformedCase("userMemory zero", pingJSON(userMemory: "0"), field: "name.userMemory", problem: "at least 1 MB"),
    MalformedCase("userMemory a boolean", pingJSON(userMemory: "true"), field: "name.userMemory", problem: "found a boolean"),
    MalformedCase("userMemory fractional", pingJSON(userMemory: "1.5"), field: "name.userMemory", problem: "expected an integer"),
    MalformedCase("isEnabled a string", pingJSON(isEnabled: nil).dropLast() + #","isEnabled":"yes"}"#, field: "isEnabled", problem: "expected a boolean, found a string"),
    MalformedCase("tags not an array", #"{"name":{"instance":1,"userMemory":"1 GB","tags":"gpu"}}"#, field: "name.tags", problem: "expected an array"),
    MalformedCase("tag not a string", #"{"name":{"instance":1,"userMemory":"1 GB","tags":["gpu",7]}}"#, field: "name.tags[1]", problem: "expected a string, found a number"),
    MalformedCase("empty tag", #"{"name":{"instance":1,"userMemory":"1 GB","tags":[""]}}"#, field: "name.tags[0]", problem: "empty"),
    MalformedCase("tag too long", #"{"name":{"instance":1,"userMemory":"1 GB","tags":["\#(String(repeating: "t", count: 65))"]}}"#, field: "name.tags[0]", problem: "at most 64"),
    MalformedCase("too many tags", #"{"name":{"instance":1,"userMemory":"1 GB","tags":[\#((0..<33).map { "\"t\($0)\"" }.joined(separator: ","))]}}"#, field: "name.tags", problem: "at most 32"),
    MalformedCase("dedicated namespace not a string", #"{"name":{"instance":1,"userMemory":"1 GB","dedicatedNamespaces":[null]}}"#, field: "name.dedicatedNamespaces[0]", problem: "found null"),
    MalformedCase("uniqueName a number", #"{"name":{"instance":1,"userMemory":"1 GB","uniqueName":5}}"#, field: "name.uniqueName", problem: "expected a string"),
]

@Suite("Malformed OpenWhisk messages name the field")
struct MalformedInputTests {

    @Test("the unmodified bases are valid")
    func baseMessagesAreValid() throws {
        _ = try ActivationMessageAdapter.routingHeader(from: bytes(base))
        _ = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON))
        _ = try AcknowledgementAdapter.parse(bytes(combinedAckJSON()))
        _ = try AcknowledgementAdapter.parse(bytes(completionAckJSON()))
        _ = try PingMessageAdapter.parse(bytes(pingJSON()))
        _ = try PingMessageAdapter.parse(bytes(pingJSON(isEnabled: nil)))
        // Each optional field the table mistypes is accepted with its right type.
        for (key, raw) in [("content", "{}"), ("initArgs", "[]"), ("lockedArgs", "{}"), ("traceContext", "{}"),
                           ("cause", "\"\(sampleCauseID)\"")] {
            _ = try ActivationMessageAdapter.routingHeader(from: bytes(activation(set: key, to: raw)))
        }
    }

    @Test("ActivationMessage", arguments: activationCases + invalidUTF8Cases)
    func activationMessage(_ row: MalformedCase) {
        expectError(field: row.field, problemContains: row.problem) {
            _ = try ActivationMessageAdapter.routingHeader(from: row.json)
        }
    }

    @Test("acknowledgements", arguments: acknowledgementCases)
    func acknowledgement(_ row: MalformedCase) {
        expectError(field: row.field, problemContains: row.problem) {
            _ = try AcknowledgementAdapter.parse(row.json)
        }
    }

    @Test("PingMessage", arguments: pingCases)
    func ping(_ row: MalformedCase) {
        expectError(field: row.field, problemContains: row.problem) {
            _ = try PingMessageAdapter.parse(row.json)
        }
    }

    @Test("bad caller hints name the hint")
    func badHints() {
        let json = bytes(fullActivationJSON)
        expectError(field: "hints.memoryMB", problemContains: "at least 1") {
            _ = try ActivationMessageAdapter.routingHeader(from: json, hints: RoutingHints(memoryMB: 0))
        }
        expectError(field: "hints.timeLimitMilliseconds", problemContains: "at least 1") {
            _ = try ActivationMessageAdapter.routingHeader(from: json, hints: RoutingHints(timeLimitMilliseconds: 0))
        }
        expectError(field: "hints.targetInvoker", problemContains: "not a valid Sluice id") {
            _ = try ActivationMessageAdapter.routingHeader(from: json, hints: RoutingHints(targetInvoker: "invoker 3"))
        }
        expectError(field: "hints.requiredTags[1]", problemContains: "empty") {
            _ = try ActivationMessageAdapter.routingHeader(from: json, hints: RoutingHints(requiredTags: ["gpu", ""]))
        }
        expectError(field: "hints.requiredTags", problemContains: "at most 32") {
            _ = try ActivationMessageAdapter.routingHeader(from: json, hints: RoutingHints(requiredTags: (0..<33).map { "t\($0)" }))
        }
    }

    @Test("an empty target invoker means the broker places")
    func emptyTarget() throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON), hints: RoutingHints(targetInvoker: ""))
        #expect(header.targetInvoker == "")
    }

    @Test("every prefix of a valid message is rejected with a named field, never a header")
    func everyPrefixFails() {
        let full = bytes(fullActivationJSON)
        for length in 0..<full.count {
            do {
                _ = try ActivationMessageAdapter.routingHeader(from: Array(full[0..<length]))
                Issue.record("prefix of \(length) bytes was accepted")
            } catch {
                #expect(!error.field.isEmpty)
                #expect(error.message.hasPrefix(error.field + ": "))
            }
        }
        for json in [combinedAckJSON(), completionAckJSON(), resultOnlyAckJSON(), shrunkResultOnlyAckJSON] {
            let ack = bytes(json)
            for length in 0..<ack.count {
                do {
                    _ = try AcknowledgementAdapter.parse(Array(ack[0..<length]))
                    Issue.record("acknowledgement prefix of \(length) bytes was accepted")
                } catch {
                    #expect(!error.field.isEmpty)
                }
            }
        }
    }

    @Test("errors read '<field>: <problem>'")
    func errorText() {
        let error = OpenWhiskMessageError(field: "activationId", problem: "missing")
        #expect(error.message == "activationId: missing")
        #expect(error.description == "activationId: missing")
        #expect("\(error)" == "activationId: missing")
    }
}
