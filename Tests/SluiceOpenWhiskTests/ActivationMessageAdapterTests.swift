import Foundation
import Testing
import SluiceOpenWhisk
import SluiceProtocol

@Suite("ActivationMessage -> routing header")
struct ActivationMessageAdapterTests {

    @Test("full current message maps field by field")
    func fullMessage() throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON))
        #expect(header.activationID == "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
        // The invoking user's namespace, not the namespace the action lives in.
        #expect(header.namespace == "alice")
        // path + "/" + name; the version is dropped.
        #expect(header.action == "whisk.system/utils/echo")
        #expect(header.revision == "3-8a7e31ac0b1d4a0e8f6c2b9d7e5a4c31")
        #expect(header.blocking == true)
        #expect(header.answerTo == "0")
        // OpenWhisk defaults when the caller gives no limits.
        #expect(header.memoryMB == 256)
        #expect(header.timeLimitMilliseconds == 60_000)
        #expect(header.targetInvoker == "")
        #expect(header.blackbox == false)
        #expect(header.requiredTags == [])
        #expect(header.maxWaitMilliseconds == 0)
        // The whole header, once more, as one value.
        #expect(header == RoutingHeader(
            activationID: sampleActivationID, namespace: "alice", action: "whisk.system/utils/echo",
            revision: "3-8a7e31ac0b1d4a0e8f6c2b9d7e5a4c31", memoryMB: 256, timeLimitMilliseconds: 60_000,
            blocking: true, answerTo: "0"))
    }

    @Test("the header encodes and decodes as an ACTIVATE")
    func headerEncodes() throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON))
        let payload = bytes(fullActivationJSON)
        let frames = Codec.encode(.activate(header), opaque: payload)
        #expect(frames.last == payload)
        let decoded = try Codec.decode(frames, channel: .controllerToBroker)
        #expect(decoded == .activate(header))
    }

    @Test("Data input gives the same header as bytes")
    func dataInput() throws {
        let fromData = try ActivationMessageAdapter.routingHeader(from: Data(fullActivationJSON.utf8))
        let fromBytes = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON))
        #expect(fromData == fromBytes)
    }

    @Test("caller-supplied limits, target invoker and placement hints")
    func hints() throws {
        let hints = RoutingHints(
            memoryMB: 512, timeLimitMilliseconds: 300_000, targetInvoker: OpenWhiskIdentifiers.invokerID(instance: 3),
            blackbox: true, requiredTags: ["gpu"], maxWaitMilliseconds: 5_000)
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON), hints: hints)
        #expect(header.memoryMB == 512)
        #expect(header.timeLimitMilliseconds == 300_000)
        #expect(header.targetInvoker == "invoker3")
        #expect(header.blackbox == true)
        #expect(header.requiredTags == ["gpu"])
        #expect(header.maxWaitMilliseconds == 5_000)
        // The message's own fields are unaffected.
        #expect(header.activationID == sampleActivationID)
        #expect(header.namespace == "alice")
        #expect(header.answerTo == "0")
    }

    @Test("only one limit given: the other keeps its default")
    func partialHints() throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON), hints: RoutingHints(memoryMB: 128))
        #expect(header.memoryMB == 128)
        #expect(header.timeLimitMilliseconds == ActivationMessageAdapter.defaultTimeLimitMilliseconds)
        let other = try ActivationMessageAdapter.routingHeader(from: bytes(fullActivationJSON), hints: RoutingHints(timeLimitMilliseconds: 1_000))
        #expect(other.memoryMB == ActivationMessageAdapter.defaultMemoryMB)
        #expect(other.timeLimitMilliseconds == 1_000)
    }

    @Test("older shapes: rootControllerIndex {instance: N}, plain-string namespace, null revision")
    func olderShapes() throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(olderActivationJSON))
        #expect(header.activationID == "a1b2c3d4e5f60718293a4b5c6d7e8f90")
        #expect(header.namespace == "bob")
        #expect(header.action == "bob/thumbnail")
        #expect(header.revision == "")
        #expect(header.blocking == false)
        #expect(header.answerTo == "1")
        #expect(header.memoryMB == 256)
        #expect(header.timeLimitMilliseconds == 60_000)
        #expect(header.targetInvoker == "")
    }

    @Test("rootControllerIndex as a plain number or string", arguments: [
        ("7", "7"),
        (#""controller-b""#, "controller-b"),
        (#"{"asString":"ctl.east_1"}"#, "ctl.east_1"),
        (#"{"asString":"12","instanceType":"controller"}"#, "12"),
        (#"{"instance":0}"#, "0"),
    ])
    func rootControllerForms(raw: String, expected: String) throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(activation(set: "rootControllerIndex", to: raw)))
        #expect(header.answerTo == expected)
    }

    @Test("action in a package, with a leading slash, and the string form", arguments: [
        (#"{"path":"guest/tools","name":"resize","version":"1.2.3"}"#, "guest/tools/resize"),
        (#"{"path":"/guest","name":"hello"}"#, "guest/hello"),
        (#"{"path":"guest","name":"hello","binding":"guest/shared"}"#, "guest/hello"),
        (#""guest/tools/resize""#, "guest/tools/resize"),
        (#""/guest/hello""#, "guest/hello"),
    ])
    func actionForms(raw: String, expected: String) throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(activation(set: "action", to: raw)))
        #expect(header.action == expected)
        #expect(header.namespace == "guest")
    }

    @Test("the revision is trimmed, as OpenWhisk's DocRevision does")
    func revisionTrimmed() throws {
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(activation(set: "revision", to: #"" 2-xyz ""#)))
        #expect(header.revision == "2-xyz")
    }

    @Test("optional fields may be null, and unknown fields are ignored")
    func nullsAndUnknownFields() throws {
        var fields = baseActivationFields
        fields.append(("content", "null"))
        fields.append(("cause", "null"))
        fields.append(("traceContext", "null"))
        fields.append(("somethingNew", #"{"x":[1,2,3]}"#))
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(activationJSON(fields)))
        #expect(header.activationID == sampleActivationID)
        #expect(header.namespace == "guest")
        #expect(header.action == "guest/hello")
    }

    @Test("whitespace around tokens (pretty-printed JSON) is accepted")
    func prettyPrinted() throws {
        let pretty = """
        {
          "transid" : [ "tid_1", 1717171717171 ],
          "action" : { "path" : "guest", "name" : "hello" },
          "revision" : "1-abc",
          "user" : { "subject" : "guest", "namespace" : { "name" : "guest", "uuid" : "u" } },
          "activationId" : "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
          "rootControllerIndex" : { "asString" : "0", "instanceType" : "controller" },
          "blocking" : false
        }

        """
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(pretty))
        #expect(header == RoutingHeader(activationID: sampleActivationID, namespace: "guest", action: "guest/hello",
                                        revision: "1-abc", blocking: false, answerTo: "0"))
    }

    @Test("a namespace with non-ASCII characters passes through")
    func unicodeNamespace() throws {
        let user = #"{"subject":"x","namespace":{"name":"\u00fcber","uuid":"u"}}"#
        let header = try ActivationMessageAdapter.routingHeader(from: bytes(activation(set: "user", to: user)))
        #expect(header.namespace == "über")
    }

    @Test("activation ids")
    func activationIDs() {
        #expect(OpenWhiskIdentifiers.isValidActivationID(sampleActivationID))
        #expect(OpenWhiskIdentifiers.isValidActivationID("00000000000000000000000000000000"))
        #expect(!OpenWhiskIdentifiers.isValidActivationID("0F1E2D3C4B5A69788796A5B4C3D2E1F0"))  // OpenWhisk: lowercase only
        #expect(!OpenWhiskIdentifiers.isValidActivationID("0f1e2d3c4b5a69788796a5b4c3d2e1f"))   // 31
        #expect(!OpenWhiskIdentifiers.isValidActivationID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"))
        #expect(!OpenWhiskIdentifiers.isValidActivationID(""))
        #expect(OpenWhiskIdentifiers.invokerID(instance: 0) == "invoker0")
        #expect(OpenWhiskIdentifiers.invokerID(instance: 12) == "invoker12")
    }
}
