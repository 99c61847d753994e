import ArgumentParser
import Dispatch
import Foundation
import SluiceClient
import SluiceOpenWhisk
import SluiceProtocol

/// An OpenWhisk-like invoker: takes ActivationMessages from a Sluice broker, runs each action
/// as a subprocess with the message's parameters, and answers with the combined
/// acknowledgement an OpenWhisk invoker would put on topic `completed<C>`.
@main
struct OpenWhiskLikeInvoker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-ow-invoker",
        abstract: "An OpenWhisk-like invoker that runs actions as subprocesses.",
        discussion: """
            Registers with the broker as invoker<N> (N from --id, as OpenWhisk names its \
            invoker topics). Every activation's payload is the controller's ActivationMessage \
            JSON, unchanged. The action (by action.name) is looked up in a small table and run \
            as a subprocess: each parameter in `content` is in the environment under its name \
            in upper case, and the whole parameters object is on stdin. The subprocess prints \
            a JSON object: the action's result. The answer is one combined acknowledgement \
            (transid, the whole activation record, isSystemError, instance).

            Actions: hello (/bin/sh, reads $NAME), sum (python3, reads a and b from stdin). \
            Any other action is answered with statusCode 1, {"error": "no such action"}.

            Example: sluice-ow-invoker --endpoint tcp://127.0.0.1:5672 --id 0
            """
    )

    @Option(help: "The broker's invoker endpoint.")
    var endpoint = "tcp://127.0.0.1:5672"

    @Option(help: "Invoker instance number N; registers as invoker<N>.")
    var id = 0

    @Option(help: "Memory for user containers, MB (reported as userMemory).")
    var memory: UInt32 = 2048

    @Option(help: "Activations run at once.")
    var slots: UInt32 = 4

    @Option(help: "Longest one action may run, seconds; it is killed after that.")
    var actionTimeout = 5.0

    func validate() throws {
        guard id >= 0 else { throw ValidationError("--id must not be negative") }
        guard memory >= 1, slots >= 1 else { throw ValidationError("--memory and --slots must be at least 1") }
        guard actionTimeout > 0 else { throw ValidationError("--action-timeout must be positive") }
    }

    func run() throws {
        // A subprocess that exits before reading its stdin must not kill the invoker.
        signal(SIGPIPE, SIG_IGN)
        unblockTerminationSignals()
        let instance = id
        let invokerID = OpenWhiskIdentifiers.invokerID(instance: instance)
        let runner = ActionRunner(instance: instance, userMemoryMB: memory, timeout: actionTimeout)
        let queue = DispatchQueue(label: "sluice.ow.invoker.actions", attributes: .concurrent)
        let holder = ClientHolder()
        let client = try InvokerClient(id: invokerID, endpoint: endpoint, memoryMB: memory, slots: slots) { activation in
            // Called on the client's thread: run the subprocess elsewhere.
            queue.async {
                guard let client = holder.client else { return }
                let answer = runner.run(activation)
                client.complete(activationID: activation.header.activationID,
                                result: (AcknowledgementAdapter.outcome(forStatusCode: answer.statusCode), answer.acknowledgement),
                                systemError: answer.statusCode == 3)
                say("\(invokerID): \(answer.qualifiedName) \(activation.header.activationID) statusCode \(answer.statusCode) in \(answer.milliseconds) ms")
            }
        }
        holder.client = client
        client.start()
        say("\(invokerID) connecting to \(endpoint): memory \(memory) MB, \(slots) slots, actions \(ActionRunner.actions.keys.sorted().joined(separator: ", "))")
        // Run until killed; the broker answers anything in flight `invokerLost`.
        while true { sleep(3600) }
    }
}

/// Lets the activation handler reach the client it belongs to.
final class ClientHolder: @unchecked Sendable {
    // Written once before `start()`, read afterwards from the work queue.
    var client: InvokerClient?
}

/// How an action runs: a program and its arguments.
struct ActionSpec: Sendable {
    var executable: String
    var arguments: [String]
}

/// What one activation produced.
struct ActionAnswer {
    var qualifiedName: String
    /// OpenWhisk's ActivationResponse status: 0 success, 1 application error, 2 action
    /// developer error, 3 whisk internal (system) error.
    var statusCode: Int
    /// The combined acknowledgement JSON.
    var acknowledgement: [UInt8]
    var milliseconds: Int64
}

/// Runs activations: reads the ActivationMessage, runs the action, builds the acknowledgement.
struct ActionRunner: Sendable {
    /// The actions this invoker knows, by `action.name`.
    static let actions: [String: ActionSpec] = [
        // A shell function: its parameter arrives in the environment.
        "hello": ActionSpec(executable: "/bin/sh", arguments: [
            "-c", #"printf '{"greeting":"Hello, %s!"}' "${NAME:-stranger}""#,
        ]),
        // A Python function: the parameters object arrives on stdin.
        "sum": ActionSpec(executable: "/usr/bin/env", arguments: [
            "python3", "-c", #"import json,sys; p=json.load(sys.stdin); print(json.dumps({"sum": p["a"]+p["b"]}))"#,
        ]),
    ]

    let instance: Int
    let userMemoryMB: UInt32
    let timeout: Double

    func run(_ activation: Activation) -> ActionAnswer {
        let start = nowMilliseconds()
        let header = activation.header
        // The payload is the controller's ActivationMessage, byte for byte.
        guard let message = (try? JSONSerialization.jsonObject(with: Data(activation.payload))) as? [String: Any] else {
            return answer(header: header, message: [:], start: start, statusCode: 3,
                          result: ["error": "the payload is not an ActivationMessage (not a JSON object)"], logs: [])
        }
        let action = message["action"] as? [String: Any] ?? [:]
        let name = action["name"] as? String ?? String(header.action.split(separator: "/").last ?? "")
        let params = message["content"] as? [String: Any] ?? [:]
        guard let spec = Self.actions[name] else {
            return answer(header: header, message: message, start: start, statusCode: 1, result: ["error": "no such action"], logs: [])
        }
        let (statusCode, result, logs) = execute(spec, params: params)
        return answer(header: header, message: message, start: start, statusCode: statusCode, result: result, logs: logs)
    }

    /// Runs `spec` with `params` (environment and stdin), bounded by `timeout`.
    private func execute(_ spec: ActionSpec, params: [String: Any]) -> (Int, [String: Any], [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: spec.executable)
        process.arguments = spec.arguments
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in params where isEnvironmentName(key) {
            environment[key.uppercased()] = environmentText(value)
        }
        process.environment = environment
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            return (3, ["error": "cannot start \(spec.executable): \(error)"], [])
        }

        // Feed stdin and drain stdout and stderr on threads of their own, so no pipe fills up.
        // (Not on Dispatch's global queue: blocking reads can use up its few threads.)
        let reads = DispatchGroup()
        let stdout = Collected(), stderr = Collected()
        for (handle, box) in [(output.fileHandleForReading, stdout), (errors.fileHandleForReading, stderr)] {
            reads.enter()
            Thread {
                box.set((try? handle.readToEnd()) ?? Data())
                reads.leave()
            }.start()
        }
        let stdinBytes = (try? JSONSerialization.data(withJSONObject: params, options: [.sortedKeys])) ?? Data("{}".utf8)
        Thread {
            try? input.fileHandleForWriting.write(contentsOf: stdinBytes)
            try? input.fileHandleForWriting.close()
        }.start()

        var timedOut = false
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            let pid = process.processIdentifier
            kill(-pid, SIGKILL)  // its process group (Foundation starts it in a group of its own)
            kill(pid, SIGKILL)
            exited.wait()
        }
        // A grandchild still holding the pipes must not hold the answer up.
        _ = reads.wait(timeout: .now() + 1)

        let logs = String(decoding: stderr.data, as: UTF8.self).split(separator: "\n").map { "\(isoNow()) stderr: \($0)" }
        if timedOut {
            return (2, ["error": "The action exceeded its time limit of \(Int(timeout * 1000)) milliseconds."], logs)
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            return (2, ["error": "The action did not produce a valid response and exited unexpectedly (status \(process.terminationStatus))."], logs)
        }
        let text = String(decoding: stdout.data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let result = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return (2, ["error": "The action did not return a dictionary.", "output": text], logs)
        }
        // As in OpenWhisk: a result with an "error" field is an application error.
        return (result["error"] != nil ? 1 : 0, result, logs)
    }

    /// The combined acknowledgement: transid, the whole activation record, isSystemError, instance.
    private func answer(header: RoutingHeader, message: [String: Any], start: Int64, statusCode: Int,
                        result: [String: Any], logs: [String]) -> ActionAnswer {
        let end = nowMilliseconds()
        let action = message["action"] as? [String: Any] ?? [:]
        let user = message["user"] as? [String: Any] ?? [:]
        let namespace = (user["namespace"] as? [String: Any])?["name"] as? String ?? header.namespace
        let name = action["name"] as? String ?? String(header.action.split(separator: "/").last ?? "")
        let record: [String: Any] = [
            "namespace": namespace,
            "name": name,
            "subject": user["subject"] as? String ?? namespace,
            "activationId": header.activationID,
            "version": action["version"] as? String ?? "0.0.1",
            "publish": false,
            "start": start,
            "end": end,
            "duration": end - start,
            "response": ["statusCode": statusCode, "result": result] as [String: Any],
            "logs": logs,
            "annotations": [
                ["key": "path", "value": header.action],
                ["key": "kind", "value": "sluice:subprocess"],
            ],
        ]
        let acknowledgement: [String: Any] = [
            "transid": message["transid"] ?? ["sluice", start],
            "response": record,
            "isSystemError": statusCode == 3,
            "instance": ["instance": instance, "instanceType": "invoker", "userMemory": "\(userMemoryMB) MB"] as [String: Any],
        ]
        let bytes = (try? JSONSerialization.data(withJSONObject: acknowledgement, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return ActionAnswer(qualifiedName: header.action, statusCode: statusCode, acknowledgement: [UInt8](bytes), milliseconds: end - start)
    }
}

/// Bytes read by another thread (empty until it is done).
final class Collected: @unchecked Sendable {
    private var bytes = Data()
    private let lock = NSLock()

    func set(_ data: Data) { lock.withLock { bytes = data } }
    var data: Data { lock.withLock { bytes } }
}

/// A parameter name that can be an environment variable.
func isEnvironmentName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
    return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
}

/// A parameter's value as environment text: strings as they are, anything else as JSON.
func environmentText(_ value: Any) -> String {
    if let text = value as? String { return text }
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { return "" }
    return String(decoding: data, as: UTF8.self)
}

func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

func isoNow() -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date())
}

/// Writes a line to stdout at once (unbuffered, also into a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
