import ArgumentParser
import Foundation
import SluiceClient
import SluiceOpenWhisk
import SluiceProtocol

/// An OpenWhisk-like controller: sends real ActivationMessage JSON for a few actions through a
/// Sluice broker and prints each action's result from the acknowledgement it gets back.
@main
struct OpenWhiskLikeController: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-ow-controller",
        abstract: "Sends OpenWhisk ActivationMessages through a Sluice broker and prints the results.",
        discussion: """
            For each action in --actions (in namespace guest), sends --count blocking \
            activations as ActivationMessage JSON (the bytes an OpenWhisk controller puts on \
            topic invoker<N>). The routing header comes from the message itself \
            (ActivationMessageAdapter). Each answer is the invoker's combined acknowledgement \
            (the bytes an OpenWhisk invoker puts on topic completed<C>); the controller reads \
            it with AcknowledgementAdapter and prints the action's result. Exits 1 if any \
            activation is not answered success.

            Example: sluice-ow-controller --endpoint tcp://127.0.0.1:5671 --count 3
            """
    )

    @Option(help: "The broker's controller endpoint.")
    var endpoint = "tcp://127.0.0.1:5671"

    @Option(help: "Controller instance id, as in rootControllerIndex.asString ([A-Za-z0-9._-]{1,128}).")
    var id = "0"

    @Option(help: "Activations per action.")
    var count = 3

    @Option(help: "Actions to invoke, comma-separated (the example invoker knows hello and sum; others answer applicationError).")
    var actions = "hello,sum"

    @Flag(help: "Also print each ActivationMessage sent and each acknowledgement received.")
    var showJSON = false

    @Option(help: "Seconds to wait for the broker's WELCOME.")
    var connectTimeout = 10

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard Identifier.isValid(id) else { throw ValidationError("--id '\(id)' is not a valid Sluice id ([A-Za-z0-9._-]{1,128})") }
        guard connectTimeout >= 1 else { throw ValidationError("--connect-timeout must be at least 1") }
        guard !actionNames.isEmpty, actionNames.allSatisfy({ !$0.isEmpty && !$0.contains("/") }) else {
            throw ValidationError("--actions must be a comma-separated list of action names, such as hello,sum")
        }
    }

    var actionNames: [String] {
        actions.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func run() async throws {
        let client = try ControllerClient(id: id, endpoint: endpoint)
        client.start()
        say("controller \(id) connecting to \(endpoint)")
        guard await client.waitUntilWelcomed(timeout: .seconds(connectTimeout)) else {
            say("controller \(id): no WELCOME from the broker within \(connectTimeout) s")
            await client.close()
            throw ExitCode.failure
        }

        let names = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
        var requests: [Request] = []
        for n in 0..<count {
            for action in actionNames {
                switch action {
                case "hello": requests.append(Request(action: action, params: ["name": names[n % names.count]]))
                case "sum": requests.append(Request(action: action, params: ["a": n + 1, "b": 10 * (n + 1)]))
                default: requests.append(Request(action: action, params: ["n": n]))
                }
            }
        }
        say("controller \(id): welcomed; sending \(requests.count) activations (\(count) per action)")

        let controllerID = id
        let showJSON = showJSON
        let results = await withTaskGroup(of: Bool.self) { group in
            for request in requests {
                group.addTask { await send(request, client: client, controllerID: controllerID, showJSON: showJSON) }
            }
            var succeeded = 0
            for await ok in group where ok { succeeded += 1 }
            return succeeded
        }
        await client.close()
        say("controller \(id): \(results) of \(requests.count) activations succeeded")
        if results != requests.count { throw ExitCode.failure }
    }
}

/// One activation to send: an action in namespace `guest` and its parameters.
struct Request: @unchecked Sendable {
    var action: String
    var params: [String: Any]
}

/// Builds the ActivationMessage, invokes it, reads the acknowledgement, prints one line.
/// Returns whether the activation was answered success.
func send(_ request: Request, client: ControllerClient, controllerID: String, showJSON: Bool) async -> Bool {
    let activationID = newActivationID()
    let transid = newTransactionID()
    let message: [String: Any] = [
        "transid": [transid, Int64(Date().timeIntervalSince1970 * 1000)],
        "action": ["path": "guest", "name": request.action, "version": "0.0.1"],
        "revision": "1-\(request.action)",
        "user": [
            "subject": "guest",
            "namespace": ["name": "guest", "uuid": "00000000-0000-4000-8000-000000000001"],
            // A made-up key: Sluice never reads it; OpenWhisk's invoker passes it to the action.
            "authkey": ["api_key": "00000000-0000-4000-8000-000000000001:example-key-not-a-secret"],
            "rights": ["READ", "PUT", "DELETE", "ACTIVATE"],
            "limits": [String: Any](),
        ],
        "activationId": activationID,
        "rootControllerIndex": ["asString": controllerID, "instanceType": "controller"],
        "blocking": true,
        "content": request.params,
    ]
    let qualified = "guest/\(request.action)"
    let payload: [UInt8]
    let header: RoutingHeader
    do {
        payload = [UInt8](try JSONSerialization.data(withJSONObject: message, options: [.sortedKeys, .withoutEscapingSlashes]))
        header = try ActivationMessageAdapter.routingHeader(from: payload, hints: RoutingHints(memoryMB: 128, timeLimitMilliseconds: 10_000))
    } catch {
        say("\(qualified)  \(activationID)  cannot build the ActivationMessage: \(error)")
        return false
    }

    if showJSON { say("sent ActivationMessage: \(String(decoding: payload, as: UTF8.self))") }
    let answer = await client.invoke(header, payload: payload)
    if showJSON { say("received \(answer.kind): \(String(decoding: answer.result, as: UTF8.self))") }
    guard answer.kind == .success || answer.kind == .applicationError || answer.kind == .systemError else {
        // Made by the broker (timeout, invokerLost, overloaded, ...): no acknowledgement bytes.
        say("\(qualified)  \(activationID)  \(answer.kind)  \(String(decoding: answer.result, as: UTF8.self))")
        return false
    }
    let acknowledgement: ParsedAcknowledgement
    do {
        acknowledgement = try AcknowledgementAdapter.parse(answer.result)
    } catch {
        say("\(qualified)  \(activationID)  \(answer.kind)  unreadable acknowledgement: \(error)")
        return false
    }
    guard acknowledgement.acknowledgement.activationID == activationID, acknowledgement.transid.id == transid else {
        say("\(qualified)  \(activationID)  acknowledgement is for another activation (\(acknowledgement.acknowledgement.activationID))")
        return false
    }
    let result = actionResult(from: answer.result)
    let invoker = acknowledgement.invokerInstance.map { "invoker\($0)" } ?? answer.header.invokerID
    say("\(qualified)  \(activationID)  \(answer.kind) on \(invoker)  \(result)")
    return answer.kind == .success && acknowledgement.outcome == .success
}

/// The activation record's `response.result`, as compact JSON text.
func actionResult(from acknowledgement: [UInt8]) -> String {
    guard let object = try? JSONSerialization.jsonObject(with: Data(acknowledgement)) as? [String: Any],
          let record = object["response"] as? [String: Any],
          let response = record["response"] as? [String: Any],
          let result = response["result"],
          let data = try? JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
    else { return "(no result)" }
    return String(decoding: data, as: UTF8.self)
}

/// 32 lowercase hexadecimal characters, as OpenWhisk's ActivationId.
func newActivationID() -> String {
    (0..<2).map { _ in
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }.joined()
}

/// An OpenWhisk-style transaction id (32 alphanumeric characters).
func newTransactionID() -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    return String((0..<32).map { _ in alphabet.randomElement()! })
}

/// Writes a line to stdout at once (unbuffered, also into a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
