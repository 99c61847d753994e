import Foundation
import SluiceClient
import SluiceProtocol
import Testing
import ZeroMQ

/// A folder with a broker key pair, a controller and an invoker key pair (made by the real
/// `sluice keygen`), and a configuration that turns CURVE on and allows each client on its
/// own role's endpoint only.
private struct SecuredSetup {
    let folder: URL
    let config: String
    let broker: CurveKeyPair
    let controller: CurveKeyPair
    let invoker: CurveKeyPair
    /// A second allowed key of each role, bound to its own id (issue 13 item 11).
    let otherController: CurveKeyPair
    let otherInvoker: CurveKeyPair

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-curve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["broker", "controller", "invoker", "other-controller", "other-invoker"] {
            let keygen = try ChildProcess(Products.path("sluice"), ["keygen", "--out", folder.appendingPathComponent(name).path])
            guard keygen.waitForExit(timeout: .seconds(20)) == 0 else { throw TestFailure("keygen failed: \(keygen.errors.current)") }
        }
        broker = try CurveKeyFile.readPair(folder.appendingPathComponent("broker.key").path)
        controller = try CurveKeyFile.readPair(folder.appendingPathComponent("controller.key").path)
        invoker = try CurveKeyFile.readPair(folder.appendingPathComponent("invoker.key").path)
        otherController = try CurveKeyFile.readPair(folder.appendingPathComponent("other-controller.key").path)
        otherInvoker = try CurveKeyFile.readPair(folder.appendingPathComponent("other-invoker.key").path)
        config = folder.appendingPathComponent("sluice.yaml").path
        // Every form the configuration takes: ID=file, ID=inline key, NAME.pub (id NAME).
        try """
        security:
          curve: true
          key-file: broker.key
          controller-keys: ["secure-controller=controller.pub", other-controller.pub]
          invoker-keys: ["secure-invoker=\(invoker.publicKey)", "secure-invoker-2=\(invoker.publicKey)", other-invoker.pub]
        """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    func client(_ keys: CurveKeyPair) -> CurveClientKeys { CurveClientKeys(serverPublicKey: broker.publicKey, keys: keys) }
}

extension BrokerEndToEndTests {
    @Test("sluice keygen writes a 0600 secret file and a public file that belong together")
    func keygenFiles() throws {
        let setup = try SecuredSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let attributes = try FileManager.default.attributesOfItem(atPath: setup.folder.appendingPathComponent("broker.key").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try CurveKeyFile.readPublicKey(setup.folder.appendingPathComponent("broker.pub").path) == setup.broker.publicKey)
        #expect(setup.broker != setup.controller)
        // Refuses to overwrite.
        let again = try ChildProcess(Products.path("sluice"), ["keygen", "--out", setup.folder.appendingPathComponent("broker").path])
        #expect(again.waitForExit(timeout: .seconds(20)) == 64)
        #expect(again.errors.wait(for: "already exists", timeout: .seconds(5)) != nil)
    }

    @Test("CURVE on: allowed keys work end to end; unknown keys, wrong roles and plaintext clients get nothing through")
    func curveAuthorisation() async throws {
        let setup = try SecuredSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let broker = try BrokerProcess(["--config", setup.config])

        // The allowed pair: a real round trip, encrypted.
        let invoker = try InvokerClient(id: "secure-invoker", endpoint: broker.invokerEndpoint, memoryMB: 1024, slots: 2,
                                        curve: setup.client(setup.invoker)) { _ in }
        let invokerBox = Box<InvokerClient?>(nil)
        let served = try InvokerClient(id: "secure-invoker-2", endpoint: broker.invokerEndpoint, memoryMB: 1024, slots: 2,
                                       curve: setup.client(setup.invoker)) { activation in
            invokerBox.value?.complete(activationID: activation.header.activationID, result: (.success, Array("ok".utf8)))
        }
        invokerBox.value = served
        let controller = try ControllerClient(id: "secure-controller", endpoint: broker.controllerEndpoint, curve: setup.client(setup.controller))
        invoker.start()
        served.start()
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        #expect(await served.waitUntilWelcomed(timeout: .seconds(10)))
        #expect(await invoker.waitUntilWelcomed(timeout: .seconds(10)))
        await invoker.close()
        // Aimed at the serving invoker: the GOODBYE of the one just closed travels on another
        // connection, and an ACTIVATE placed on it first would be answered invokerLost.
        let answer = await controller.invoke(RoutingHeader(activationID: "curve-1", namespace: "guest", action: "guest/a", revision: "",
                                                           memoryMB: 256, timeLimitMilliseconds: 1000,
                                                           targetInvoker: "secure-invoker-2"), payload: [1, 2, 3])
        #expect(answer.kind == .success)
        #expect(answer.result == Array("ok".utf8))

        // Refusals: none of these is ever welcomed.
        let stranger = try CurveKeyPair.generate()
        let refused: [(String, ControllerClient)] = [
            ("unknown key", try ControllerClient(id: "stranger", endpoint: broker.controllerEndpoint, curve: setup.client(stranger))),
            ("invoker key on the controller endpoint", try ControllerClient(id: "imposter", endpoint: broker.controllerEndpoint, curve: setup.client(setup.invoker))),
            ("plaintext", try ControllerClient(id: "plain", endpoint: broker.controllerEndpoint)),
            ("wrong server key", try ControllerClient(id: "confused", endpoint: broker.controllerEndpoint,
                                                     curve: CurveClientKeys(serverPublicKey: stranger.publicKey, keys: setup.controller))),
        ]
        let controllerAsInvoker = try InvokerClient(id: "controller-as-invoker", endpoint: broker.invokerEndpoint, memoryMB: 1024, slots: 1,
                                                    curve: setup.client(setup.controller)) { _ in Issue.record("a refused invoker got work") }
        for (_, client) in refused { client.start() }
        controllerAsInvoker.start()
        for (what, client) in refused {
            #expect(await !client.waitUntilWelcomed(timeout: .milliseconds(1500)), "\(what) must not be welcomed")
            await client.close()
        }
        #expect(await !controllerAsInvoker.waitUntilWelcomed(timeout: .milliseconds(500)), "a controller's key must not register as an invoker")
        await controllerAsInvoker.close()
        await controller.close()
        await served.close()

        let counters = try broker.stop()
        #expect(counters["activations_received"] == 1, "only the allowed controller's activation got in")
        #expect((counters["authentications_refused"] ?? 0) >= 3, "unknown key, wrong-role keys refused by ZAP: \(counters)")
        #expect((counters["authentications_accepted"] ?? 0) >= 3)
    }

    @Test("A configuration with CURVE on and a bad key is refused at start-up naming the key")
    func curveConfigurationErrors() throws {
        let setup = try SecuredSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        try "security:\n  curve: true\n  key-file: broker.key\n  controller-keys: [\"not-a-key\"]\n".write(toFile: setup.config, atomically: true, encoding: .utf8)
        let check = try ChildProcess(Products.path("sluice"), ["broker", "--check-config", setup.config])
        #expect(check.waitForExit(timeout: .seconds(20)) == 64)
        #expect(check.errors.wait(for: "security.controller-keys", timeout: .seconds(5)) != nil, "stderr: \(check.errors.current)")
        try "security:\n  curve: true\n".write(toFile: setup.config, atomically: true, encoding: .utf8)
        let missing = try ChildProcess(Products.path("sluice"), ["broker", "--check-config", setup.config])
        #expect(missing.waitForExit(timeout: .seconds(20)) == 64)
        #expect(missing.errors.wait(for: "security.key-file", timeout: .seconds(5)) != nil, "stderr: \(missing.errors.current)")
    }
}

final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A bare DEALER with CURVE: sends one HELLO and reads what the broker says.
private func helloOverCurve(_ setup: SecuredSetup, endpoint: String, keys: CurveKeyPair, hello: Message,
                            inbound: Channel) throws -> Message? {
    let context = try ZMQContext()
    let socket = try ZMQSocket(context, type: .dealer)
    try socket.setLinger(milliseconds: 0)
    try socket.setCurveClient(serverKey: setup.broker.publicKey, keys: keys)
    try socket.connect(endpoint)
    try socket.send(multipart: Codec.encode(hello).map { ZMQMessage(bytes: $0) })
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(10)
    while clock.now < deadline {
        var poller = ZMQPoller()
        _ = poller.add(socket)
        guard try poller.poll(timeoutMilliseconds: 200) > 0 else { continue }
        while let frames = try socket.receiveMultipart(flags: .dontWait) {
            let message = try Codec.decode(frames.map(\.bytes), channel: inbound)
            if message != .heartbeat { return message }
        }
    }
    return nil
}

extension BrokerEndToEndTests {
    @Test("Issue 13 item 11: an allowed controller key cannot claim another controller's id; the victim keeps its answers")
    func controllerIDIsBoundToItsKey() async throws {
        let setup = try SecuredSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let broker = try BrokerProcess(["--config", setup.config])
        let served = Box<InvokerClient?>(nil)
        let invoker = try InvokerClient(id: "secure-invoker", endpoint: broker.invokerEndpoint, memoryMB: 1024, slots: 2,
                                        curve: setup.client(setup.invoker)) { activation in
            served.value?.complete(activationID: activation.header.activationID, result: (.success, Array("mine".utf8)))
        }
        served.value = invoker
        invoker.start()
        let victim = try ControllerClient(id: "secure-controller", endpoint: broker.controllerEndpoint, curve: setup.client(setup.controller))
        victim.start()
        #expect(await victim.waitUntilWelcomed(timeout: .seconds(10)))
        #expect(await invoker.waitUntilWelcomed(timeout: .seconds(10)))

        // Another allowed controller key (bound to "other-controller") says HELLO as the victim.
        let reply = try helloOverCurve(setup, endpoint: broker.controllerEndpoint, keys: setup.otherController,
                                       hello: .controllerHello(controllerID: "secure-controller"), inbound: .brokerToController)
        guard case .error(let report)? = reply else {
            Issue.record("expected ERROR notAuthorized, got \(String(describing: reply))")
            return
        }
        #expect(report.code == .notAuthorized)
        #expect(report.reason.contains("'other-controller'") && report.reason.contains("'secure-controller'"), "\(report.reason)")
        // Its own id works.
        let own = try helloOverCurve(setup, endpoint: broker.controllerEndpoint, keys: setup.otherController,
                                     hello: .controllerHello(controllerID: "other-controller"), inbound: .brokerToController)
        if case .welcome? = own {} else { Issue.record("its own id is welcomed: \(String(describing: own))") }

        // The victim's session was not taken over: its answer still reaches it.
        let answer = await victim.invoke(RoutingHeader(activationID: "victim-1", namespace: "guest", action: "guest/a"),
                                         payload: [1])
        #expect(answer.kind == .success)
        #expect(answer.result == Array("mine".utf8))
        await victim.close()
        await invoker.close()
        let counters = try broker.stop()
        #expect(counters["protocol_errors_notAuthorized"] == 1)
    }

    @Test("Issue 13 item 11: an allowed invoker key cannot claim another invoker's id and make its work invokerLost")
    func invokerIDIsBoundToItsKey() async throws {
        let setup = try SecuredSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let broker = try BrokerProcess(["--config", setup.config])
        // The real secure-invoker-2 holds its activation until told to finish it.
        let held = Box<[String]>([])
        let victim = try InvokerClient(id: "secure-invoker-2", endpoint: broker.invokerEndpoint, memoryMB: 1024, slots: 2,
                                       curve: setup.client(setup.invoker)) { activation in
            held.value.append(activation.header.activationID)
        }
        victim.start()
        let controller = try ControllerClient(id: "secure-controller", endpoint: broker.controllerEndpoint, curve: setup.client(setup.controller))
        controller.start()
        #expect(await victim.waitUntilWelcomed(timeout: .seconds(10)))
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        async let answer = controller.invoke(RoutingHeader(activationID: "held-1", namespace: "guest", action: "guest/a"), payload: [1])
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while held.value.isEmpty && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(held.value == ["held-1"], "the victim is running it")

        // Another allowed invoker key (bound to "other-invoker") says HELLO as the victim.
        let reply = try helloOverCurve(setup, endpoint: broker.invokerEndpoint, keys: setup.otherInvoker,
                                       hello: .invokerHello(InvokerHello(invokerID: "secure-invoker-2", memoryMB: 1024, slots: 1)),
                                       inbound: .brokerToInvoker)
        guard case .error(let report)? = reply else {
            Issue.record("expected ERROR notAuthorized, got \(String(describing: reply))")
            return
        }
        #expect(report.code == .notAuthorized)
        // The victim's work was not answered invokerLost: it completes normally.
        victim.complete(activationID: "held-1", result: (.success, Array("done".utf8)))
        let result = await answer
        #expect(result.kind == .success, "before the fix: invokerLost, the imposter had replaced the victim")
        await victim.close()
        await controller.close()
        let counters = try broker.stop()
        #expect(counters["protocol_errors_notAuthorized"] == 1)
        #expect(counters["answered_invokerLost"] == 0)
    }

    @Test("Issue 13 item 11: a bare Z85 key with no id is refused at start-up")
    func bareKeyIsRefused() throws {
        let setup = try SecuredSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        try "security:\n  curve: true\n  key-file: broker.key\n  controller-keys: [\"\(setup.controller.publicKey)\"]\n"
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        let check = try ChildProcess(Products.path("sluice"), ["broker", "--check-config", setup.config])
        #expect(check.waitForExit(timeout: .seconds(20)) == 64)
        #expect(check.errors.wait(for: "names no id: write ID=KEY", timeout: .seconds(5)) != nil, "stderr: \(check.errors.current)")
    }
}
