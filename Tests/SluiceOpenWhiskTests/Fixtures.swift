import Testing
import SluiceOpenWhisk

// Hand-written OpenWhisk messages, from the field lists in
// the OpenWhisk sources (Message.scala, InstanceId.scala, Identity.scala, WhiskActivation.scala).
// Compact JSON, as OpenWhisk's `compactPrint` writes it.

/// The activation id most samples use.
let sampleActivationID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
/// A second valid id (the `cause` of the full sample).
let sampleCauseID = "ffeeddccbbaa99887766554433221100"

/// UTF-8 bytes of `text`.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A full, current ActivationMessage: user `alice` invokes `whisk.system/utils/echo`, with
/// parameters (`content`, including escapes and non-ASCII text), encrypted-argument fields,
/// a cause and a trace context. Answer to controller "0".
let fullActivationJSON = #"""
{"transid":["sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO",1717171717171],"action":{"path":"whisk.system/utils","name":"echo","version":"0.0.3"},"revision":"3-8a7e31ac0b1d4a0e8f6c2b9d7e5a4c31","user":{"subject":"alice@example.com","namespace":{"name":"alice","uuid":"6f1c2a9e-3b7d-4e0a-9c55-2d8f4b1a7e63"},"authkey":{"api_key":"6f1c2a9e-3b7d-4e0a-9c55-2d8f4b1a7e63:notARealKeyJustATestValue0123456789abcdefghijklmnopqrstuvwxyz"},"rights":["READ","PUT","DELETE","ACTIVATE"],"limits":{"invocationsPerMinute":120,"concurrentInvocations":30}},"activationId":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","rootControllerIndex":{"asString":"0","instanceType":"controller"},"blocking":true,"content":{"message":"hello \"world\"\n","name":"Ada \u00e9 \ud83d\ude00","nested":{"list":[1,2.5,-3e2,true,false,null,{}],"empty":[]}},"initArgs":["password"],"lockedArgs":{"password":"aes-256:c2VjcmV0"},"cause":"ffeeddccbbaa99887766554433221100","traceContext":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
"""#

/// An ActivationMessage in older shapes: `rootControllerIndex` as `{"instance": 1}`,
/// `user.namespace` a plain string, `revision` null, no `content`, `initArgs` or `lockedArgs`,
/// and the three-element `transid`. The action sits in the user's default package.
let olderActivationJSON = #"""
{"transid":["tid_81",1530000000000,true],"action":{"path":"bob","name":"thumbnail"},"revision":null,"user":{"subject":"bob","namespace":"bob","authkey":{"uuid":"1a2b3c4d-0000-4000-8000-0123456789ab","key":"k3y"},"rights":["READ","PUT","DELETE","ACTIVATE"],"limits":{}},"activationId":"a1b2c3d4e5f60718293a4b5c6d7e8f90","rootControllerIndex":{"instance":1},"blocking":false}
"""#

/// Builds an ActivationMessage from ordered `(key, raw JSON value)` pairs.
func activationJSON(_ fields: [(String, String)]) -> String {
    "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
}

/// The fields of a minimal valid current ActivationMessage, in OpenWhisk's order.
let baseActivationFields: [(String, String)] = [
    ("transid", #"["tid_1",1717171717171]"#),
    ("action", #"{"path":"guest","name":"hello"}"#),
    ("revision", #""1-abc""#),
    ("user", #"{"subject":"guest","namespace":{"name":"guest","uuid":"23bc46b1-71f6-4ed5-8c54-816aa4f8c502"},"authkey":{"api_key":"x:y"},"rights":[],"limits":{}}"#),
    ("activationId", #""0f1e2d3c4b5a69788796a5b4c3d2e1f0""#),
    ("rootControllerIndex", #"{"asString":"0","instanceType":"controller"}"#),
    ("blocking", "true"),
]

/// The base ActivationMessage with `key` set to `raw` (nil: removed). A key not in the base is appended.
func activation(set key: String, to raw: String?) -> String {
    var fields = baseActivationFields
    if let index = fields.firstIndex(where: { $0.0 == key }) {
        if let raw { fields[index].1 = raw } else { fields.remove(at: index) }
    } else if let raw {
        fields.append((key, raw))
    }
    return activationJSON(fields)
}

/// A full activation record (WhiskActivation) with `statusCode` (nil: no statusCode) and `result`.
func activationRecord(id: String = sampleActivationID, statusCode: Int? = 0, result: String = #"{"payload":"hi"}"#) -> String {
    let status = statusCode.map { #""statusCode":\#($0),"# } ?? ""
    return #"{"namespace":"alice","name":"echo","subject":"alice@example.com","activationId":"\#(id)","start":1717171717200,"end":1717171717250,"duration":50,"response":{\#(status)"result":\#(result)},"logs":[],"version":"0.0.3","publish":false,"annotations":[{"key":"path","value":"whisk.system/utils/echo"},{"key":"kind","value":"nodejs:20"},{"key":"limits","value":{"concurrency":1,"logs":10,"memory":256,"timeout":60000}},{"key":"waitTime","value":12},{"key":"initTime","value":31}]}"#
}

/// The invoker instance that acknowledgements carry in `instance`.
let invokerInstanceJSON = #"{"instance":2,"userMemory":"2048 MB","instanceType":"invoker","uniqueName":"owdev-invoker-2","displayedName":"invoker-2","tags":[],"dedicatedNamespaces":[]}"#

/// Combined acknowledgement (CombinedCompletionAndResultMessage) with a full record.
func combinedAckJSON(statusCode: Int? = 0, isSystemError: Bool = false) -> String {
    #"{"transid":["tid_42",1717171717171],"response":\#(activationRecord(statusCode: statusCode)),"isSystemError":\#(isSystemError),"instance":\#(invokerInstanceJSON)}"#
}

/// Completion acknowledgement (CompletionMessage).
func completionAckJSON(isSystemError: Bool = false) -> String {
    #"{"transid":["tid_42",1717171717171],"activationId":"\#(sampleActivationID)","isSystemError":\#(isSystemError),"instance":\#(invokerInstanceJSON)}"#
}

/// Result-only acknowledgement (ResultMessage) with a full record.
func resultOnlyAckJSON(statusCode: Int? = 0) -> String {
    #"{"transid":["tid_42",1717171717171],"response":\#(activationRecord(statusCode: statusCode))}"#
}

/// Combined acknowledgement whose response was shrunk to the activation id.
func shrunkCombinedAckJSON(isSystemError: Bool = false) -> String {
    #"{"transid":["tid_42",1717171717171],"response":"\#(sampleActivationID)","isSystemError":\#(isSystemError),"instance":\#(invokerInstanceJSON)}"#
}

/// Result-only acknowledgement whose response was shrunk to the activation id.
let shrunkResultOnlyAckJSON = #"{"transid":["tid_42",1717171717171],"response":"0f1e2d3c4b5a69788796a5b4c3d2e1f0"}"#

/// A PingMessage from invoker 3.
func pingJSON(isEnabled: Bool? = true, userMemory: String = #""2048 MB""#) -> String {
    let enabled = isEnabled.map { #","isEnabled":\#($0)"# } ?? ""
    return #"{"name":{"instance":3,"userMemory":\#(userMemory),"instanceType":"invoker","uniqueName":"owdev-invoker-3","displayedName":"invoker-3","tags":["gpu","ssd"],"dedicatedNamespaces":["tenant-a","tenant-b"]}\#(enabled)}"#
}

/// Runs `body`, which must throw an `OpenWhiskMessageError` naming `field`; returns the error.
@discardableResult
func expectError(
    field: String, problemContains fragment: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> OpenWhiskMessageError? {
    do {
        try body()
        Issue.record("expected an error naming '\(field)', got none", sourceLocation: sourceLocation)
        return nil
    } catch let error as OpenWhiskMessageError {
        #expect(error.field == field, "error was: \(error.message)", sourceLocation: sourceLocation)
        #expect(error.message.hasPrefix(field + ": "), "message must start with the field: \(error.message)", sourceLocation: sourceLocation)
        if let fragment {
            #expect(error.problem.contains(fragment), "problem '\(error.problem)' should contain '\(fragment)'", sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected an OpenWhiskMessageError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
