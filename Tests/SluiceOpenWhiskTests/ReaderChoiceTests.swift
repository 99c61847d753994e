import Foundation
import SluiceOpenWhisk
import Testing

// Why the OpenWhisk readers stay hand-written (docs/TOPICS.md, "Reading OpenWhisk's JSON"):
// Foundation's JSONDecoder on this toolchain accepts JSON that OpenWhisk's own parser refuses,
// so a message Sluice would forward could not be read by the invoker at the other end; and its
// syntax errors name no field. `sluice openwhisk-json-bench` measures the speed of both. If a
// later Foundation becomes strict, the first expectation below fails: revisit the choice then.

@Suite("Reading OpenWhisk's JSON: the hand-written reader, not JSONDecoder")
struct ReaderChoiceTests {
    /// Valid ActivationMessages with one defect that RFC 8259 (and spray-json) refuses.
    static let invalid: [(String, String)] = {
        let valid = String(decoding: OpenWhiskJSONFixture.message, as: UTF8.self)
        return [
            ("a trailing comma", String(valid.dropLast()) + ",}"),
            // In the parameters, which JSONDecoder scans but never reads: it checks a string's
            // escapes and characters only when a field is decoded.
            ("an invalid escape in the parameters", valid.replacingOccurrences(of: #""content":{"n":1}"#, with: #""content":{"n":"\q"}"#)),
            ("a raw control character in the parameters", valid.replacingOccurrences(of: #""content":{"n":1}"#, with: "\"content\":{\"n\":\"a\u{01}b\"}")),
            ("a trailing comma in the parameters", valid.replacingOccurrences(of: #""content":{"n":1}"#, with: #""content":{"n":1,}"#)),
        ]
    }()

    @Test("JSONDecoder accepts what OpenWhisk's parser refuses; the hand-written reader refuses it, naming the field", arguments: invalid.map(\.0))
    func leniency(defect: String) throws {
        let text = try #require(Self.invalid.first { $0.0 == defect }?.1)
        #expect(text != String(decoding: OpenWhiskJSONFixture.message, as: UTF8.self), "the defect was applied")
        let decoded = try? JSONDecoder().decode(ActivationMessage.self, from: Data(text.utf8))
        #expect(decoded != nil, "JSONDecoder became strict about \(defect): reconsider decoding with it (docs/TOPICS.md)")
        #expect(throws: OpenWhiskMessageError.self) { _ = try ActivationMessageAdapter.read(Array(text.utf8)) }
    }

    @Test("Both readers agree on a valid message")
    func agreement() throws {
        let (header, sent) = try ActivationMessageAdapter.read(OpenWhiskJSONFixture.message)
        let decoded = try JSONDecoder().decode(ActivationMessage.self, from: Data(OpenWhiskJSONFixture.message))
        #expect(decoded.activationId == header.activationID)
        #expect(decoded.user.namespace == header.namespace)
        #expect(decoded.action.path + "/" + decoded.action.name == header.action)
        #expect(decoded.rootControllerIndex.asString == header.answerTo)
        #expect(decoded.blocking == header.blocking)
        #expect(decoded.transid == sent.transid)
        #expect(decoded.user.subject == sent.subject)
    }
}

enum OpenWhiskJSONFixture {
    static let message = Array(#"{"transid":["sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO",1717171717171],"action":{"path":"whisk.system/utils","name":"echo","version":"0.0.3"},"revision":"3-8a","user":{"subject":"alice@example.com","namespace":{"name":"alice","uuid":"u"},"authkey":{"api_key":"k"},"rights":[],"limits":{}},"activationId":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","rootControllerIndex":{"asString":"0","instanceType":"controller"},"blocking":true,"content":{"n":1},"initArgs":[],"lockedArgs":{}}"#.utf8)
}
