import Foundation
import Testing

extension BrokerEndToEndTests {
    @Test("The OpenWhisk-like example: ActivationMessage JSON in, subprocess actions, combined acknowledgements back")
    func openWhiskLikeExample() throws {
        let broker = try BrokerProcess()
        let invoker = try ChildProcess(Products.path("sluice-ow-invoker"), [
            "--endpoint", broker.invokerEndpoint, "--id", "0", "--slots", "4",
        ])
        defer { invoker.signal(SIGKILL) }

        let controller = try ChildProcess(Products.path("sluice-ow-controller"), [
            "--endpoint", broker.controllerEndpoint, "--id", "0", "--count", "2",
        ])
        defer { controller.signal(SIGKILL) }
        let status = controller.waitForExit(timeout: .seconds(60))
        // Its output may still be on its way through the pipe when it exits.
        let output = controller.output.wait(for: "activations succeeded", timeout: .seconds(5)) ?? controller.output.current
        let context = "controller stdout:\n\(output)\ncontroller stderr:\n\(controller.errors.current)\ninvoker stdout:\n\(invoker.output.current)\ninvoker stderr:\n\(invoker.errors.current)"
        let shownStatus = status.map { String($0) } ?? "none within 60 s"
        #expect(status == 0, "controller exit status \(shownStatus)\n\(context)")
        // hello (a shell action) greets the names the controller sent; sum (a Python action) adds a and b.
        #expect(output.contains(#"{"greeting":"Hello, Alice!"}"#), "\(context)")
        #expect(output.contains(#"{"greeting":"Hello, Bob!"}"#), "\(context)")
        #expect(output.contains(#"{"sum":11}"#), "\(context)")
        #expect(output.contains(#"{"sum":22}"#), "\(context)")
        #expect(output.contains("4 of 4 activations succeeded"), "\(context)")
        // Every activation ran on the one invoker, registered as OpenWhisk names it.
        #expect(output.components(separatedBy: "success on invoker0").count - 1 == 4, "\(context)")

        _ = try broker.stop()
    }
}
