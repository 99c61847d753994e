import Foundation
import SluiceOpenWhisk
import SluiceProtocol
import Testing

// What Sluice hands to OpenWhisk's controller on completed<C> must pass OpenWhisk's own readers
// (OpenWhiskReaderRules.swift, written from OpenWhisk's sources). docs/TOPICS.md has the table.

/// Messages as OpenWhisk's invoker writes them (compact, its field order), for the rules to accept.
enum OpenWhiskFixtures {
    static let id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    static let invoker = #"{"instance":3,"userMemory":"2147483648 B","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}"#
    static let record = #"{"namespace":"alice","name":"echo","subject":"alice@example.com","activationId":"\#(id)","start":1717171717171,"end":1717171717250,"response":{"statusCode":0,"result":{"ok":true}},"logs":[],"version":"0.0.3","publish":false,"annotations":[{"key":"path","value":"alice/echo"},{"key":"waitTime","value":12}],"duration":79}"#
    static let combined = #"{"transid":["sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO",1717171717171],"response":\#(record),"isSystemError":false,"instance":\#(invoker)}"#
    static let completion = #"{"transid":["sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO",1717171717171],"activationId":"\#(id)","isSystemError":false,"instance":\#(invoker)}"#
    static let result = #"{"transid":["sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO",1717171717171],"response":\#(record)}"#
    static let shrunkResult = #"{"transid":["sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO",1717171717171],"response":"\#(id)"}"#
    static let ping = #"{"name":\#(invoker),"isEnabled":true}"#

    /// Every message above with the fields OpenWhisk requires, each a path of keys.
    static let requiredFields: [(name: String, json: String, paths: [[String]])] = [
        ("combined", combined, [["transid"], ["instance", "instance"], ["instance", "userMemory"], ["instance", "instanceType"], ["instance", "tags"],
                                ["instance", "dedicatedNamespaces"], ["response", "namespace"], ["response", "name"], ["response", "subject"],
                                ["response", "activationId"], ["response", "start"], ["response", "end"], ["response", "response"],
                                ["response", "logs"], ["response", "version"], ["response", "publish"], ["response", "annotations"],
                                ["response", "response", "statusCode"]]),
        ("completion", completion, [["transid"], ["activationId"], ["instance", "tags"], ["instance", "dedicatedNamespaces"], ["instance", "userMemory"]]),
        ("ping", ping, [["name", "instance"], ["name", "tags"], ["name", "dedicatedNamespaces"], ["name", "userMemory"]]),
    ]

    /// Foundation objects JSONSerialization can write (booleans back to Bool).
    static func unwrap(_ value: Any) -> Any {
        switch value {
        case let flag as JSONBool: flag.value
        case let list as [Any]: list.map(unwrap)
        case let fields as [String: Any]: fields.mapValues(unwrap)
        default: value
        }
    }

    /// `json` without the field at `path`.
    static func removing(_ path: [String], from json: String) -> [UInt8] {
        var object = try! OpenWhiskReaders.object(Array(json.utf8))
        func remove(_ path: ArraySlice<String>, in dictionary: inout [String: Any]) {
            guard let first = path.first else { return }
            if path.count == 1 { dictionary.removeValue(forKey: first); return }
            var inner = dictionary[first] as! [String: Any]
            remove(path.dropFirst(), in: &inner)
            dictionary[first] = inner
        }
        remove(path[...], in: &object)
        return Array(try! JSONSerialization.data(withJSONObject: unwrap(object)))
    }
}

@Suite("Acknowledgements OpenWhisk accepts (issue 16, docs/TOPICS.md)")
struct BrokerDecidedAcknowledgementTests {
    static let sent = SentActivation(
        transid: OpenWhiskTransactionID(id: "sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO", startMilliseconds: 1_717_171_717_171),
        subject: "alice@example.com", namespace: "alice", actionPath: "whisk.system/utils", actionName: "echo", actionVersion: "0.0.3",
        blocking: true, bookedInvoker: 3, sentAtMilliseconds: 1_717_171_717_171)

    @Test("The reader rules accept what OpenWhisk's invoker writes")
    func fixturesPass() throws {
        #expect(try OpenWhiskReaders.acknowledgement(Array(OpenWhiskFixtures.combined.utf8)).kind == .combined)
        #expect(try OpenWhiskReaders.acknowledgement(Array(OpenWhiskFixtures.completion.utf8)).kind == .completion)
        #expect(try OpenWhiskReaders.acknowledgement(Array(OpenWhiskFixtures.result.utf8)).kind == .result)
        #expect(try OpenWhiskReaders.acknowledgement(Array(OpenWhiskFixtures.shrunkResult.utf8)).kind == .result)
        #expect(try OpenWhiskReaders.ping(Array(OpenWhiskFixtures.ping.utf8)) == (3, true))
    }

    @Test("The reader rules refuse a message without any one required field, naming it", arguments: OpenWhiskFixtures.requiredFields.map(\.name))
    func everyRequiredFieldIsRequired(name: String) {
        let fixture = OpenWhiskFixtures.requiredFields.first { $0.name == name }!
        for path in fixture.paths {
            let broken = OpenWhiskFixtures.removing(path, from: fixture.json)
            #expect(throws: Refusal.self, "\(name) without \(path.joined(separator: "."))") {
                if name == "ping" { _ = try OpenWhiskReaders.ping(broken) } else { _ = try OpenWhiskReaders.acknowledgement(broken) }
            }
        }
    }

    @Test("The acknowledgement Sluice wrote before this issue is refused: its instance had no tags or dedicatedNamespaces")
    func oldSyntheticFormatIsRefused() {
        let old = #"{"transid":["t",1],"activationId":"\#(OpenWhiskFixtures.id)","isSystemError":true,"instance":{"instance":3,"instanceType":"invoker","userMemory":"0 B"},"sluice":{"answer":"invokerLost","reason":"x"}}"#
        #expect(throws: Refusal(field: "instance.tags", problem: "Object is missing required member 'tags'")) {
            _ = try OpenWhiskReaders.acknowledgement(Array(old.utf8))
        }
    }

    /// (kind, reason, the invoker that ran it) -> (status code, isSystemError, invoker named).
    static let table: [(AnswerKind, String, Int, Bool, Int)] = [
        (.timeout, "invoker4", 3, true, 4),
        (.invokerLost, "invoker4", 3, true, 4),
        (.overloaded, "", 3, false, 3),
        (.expired, "", 3, false, 3),
        (.brokerLost, "", 3, false, 3),
        (.throttled, "", 1, false, 3),
        (.rejected, "", 1, false, 3),
    ]

    @Test("Every answer Sluice decides becomes a combined acknowledgement OpenWhisk accepts: the caller gets a record saying why, the slot is freed, health is charged only for the invoker's own failures",
          arguments: table.map(\.0))
    func brokerDecidedAnswers(kind: AnswerKind) throws {
        let row = Self.table.first { $0.0 == kind }!
        let header = AnswerHeader(activationID: OpenWhiskFixtures.id, kind: kind, invokerID: row.1, reason: "the broker's reason")
        let bytes = BrokerDecidedAcknowledgement.json(for: header, sent: Self.sent, nowMilliseconds: 1_717_171_718_000)
        let read = try OpenWhiskReaders.acknowledgement(bytes)
        #expect(read.kind == .combined, "releases a blocking caller and frees the slot")
        #expect(read.activationID == OpenWhiskFixtures.id)
        #expect(read.statusCode == row.2)
        #expect(read.isSystemError == row.3)
        #expect(read.invokerInstance == row.4, "the invoker whose books and health it touches")
        #expect(read.errorText?.contains("the broker's reason") == true, "\(read.errorText ?? "")")
        let object = try OpenWhiskReaders.object(bytes)
        #expect((object["transid"] as? [Any])?.first as? String == "sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO", "the sent transid, echoed")
        #expect(((object["transid"] as? [Any])?[1] as? NSNumber)?.intValue == 1_717_171_717_171)
        // Sluice's own reader of acknowledgements reads it the same way.
        let sluice = try AcknowledgementAdapter.parse(bytes)
        #expect(sluice.acknowledgement.activationID == OpenWhiskFixtures.id)
        #expect(sluice.statusCode == row.2)
    }

    @Test("A broker-decided answer for an activation the controller has no record of still passes the readers")
    func withoutRecord() throws {
        let header = AnswerHeader(activationID: OpenWhiskFixtures.id, kind: .overloaded, invokerID: "", reason: "no room")
        let read = try OpenWhiskReaders.acknowledgement(BrokerDecidedAcknowledgement.json(for: header, sent: nil, nowMilliseconds: 1))
        #expect(read.kind == .combined)
        #expect(read.invokerInstance == -1, "names no invoker: OpenWhisk ignores an index it does not have")
    }

    @Test("A completion without a result is a CompletionMessage, as OpenWhisk's invoker sends for non-blocking work")
    func completionWithoutResult() throws {
        for (kind, systemError) in [(AnswerKind.success, false), (.systemError, true)] {
            let header = AnswerHeader(activationID: OpenWhiskFixtures.id, kind: kind, invokerID: "invoker3", reason: "completed without a result")
            let read = try OpenWhiskReaders.acknowledgement(BrokerDecidedAcknowledgement.json(for: header, sent: Self.sent, nowMilliseconds: 1))
            #expect(read == ReadAcknowledgement(kind: .completion, activationID: OpenWhiskFixtures.id, isSystemError: systemError, invokerInstance: 3))
        }
    }

    @Test("A COMPLETED notice becomes the CompletionMessage that frees the slot after a split acknowledgement's result; none for the circuit breaker")
    func completedNotices() throws {
        let done = CompletedNotice(activationID: OpenWhiskFixtures.id, invokerID: "invoker3", systemError: false, cause: .completion)
        let read = try OpenWhiskReaders.acknowledgement(try #require(BrokerDecidedAcknowledgement.completion(for: done, sent: Self.sent, nowMilliseconds: 1)))
        #expect(read == ReadAcknowledgement(kind: .completion, activationID: OpenWhiskFixtures.id, isSystemError: false, invokerInstance: 3))
        let lost = CompletedNotice(activationID: OpenWhiskFixtures.id, invokerID: "invoker3", systemError: true, cause: .invokerLost)
        #expect(try OpenWhiskReaders.acknowledgement(try #require(BrokerDecidedAcknowledgement.completion(for: lost, sent: Self.sent, nowMilliseconds: 1))).isSystemError)
        let timeout = CompletedNotice(activationID: OpenWhiskFixtures.id, invokerID: "invoker3", systemError: false, cause: .timeout)
        #expect(BrokerDecidedAcknowledgement.completion(for: timeout, sent: Self.sent, nowMilliseconds: 1) == nil,
                "OpenWhisk's own timer fires at the same time and counts a timeout, which no acknowledgement can")
    }

    @Test("The ActivationMessage reader keeps what a broker-decided acknowledgement needs: transid, subject, namespace, action path, name and version")
    func sentActivationFromTheMessage() throws {
        let (_, sent) = try ActivationMessageAdapter.read(bytes(fullActivationJSON))
        #expect(sent.transid == OpenWhiskTransactionID(id: "sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO", startMilliseconds: 1_717_171_717_171))
        #expect(sent.subject == "alice@example.com")
        #expect(sent.namespace == "alice")
        #expect(sent.actionPath == "whisk.system/utils")
        #expect(sent.actionName == "echo")
        #expect(sent.actionVersion == "0.0.3")
        #expect(sent.blocking)
    }
}
