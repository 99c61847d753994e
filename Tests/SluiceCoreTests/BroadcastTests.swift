import Testing
import SluiceCore
import SluiceProtocol

// Broadcast: docs/PROTOCOL.md §4.13, §4.14 and §6.5.

extension Observed {
    /// Publications sent, as "route:topic:origin:payload".
    var publications: [String] {
        actions.compactMap { action in
            guard case .send(_, let route, .publication(let header), let opaque) = action else { return nil }
            return "\(routeName(route)):\(header.topic):\(header.originRole)/\(header.originID):\(String(decoding: opaque ?? [], as: UTF8.self))"
        }
    }
}

@Suite("Broadcast (§4.13, §4.14, §6.5)")
struct BroadcastTests {
    @Test("§6.5 a publication reaches every matching session on both endpoints, the publisher included, once each")
    func fanOut() {
        var h = Harness()
        h.controllerHello("c1")
        h.controllerHello("c2")
        h.controllerHello("c3")
        h.invokerHello("i1")
        h.receive(.controller, from: "c1", .subscribe(prefix: "cacheInvalidation"))
        h.receive(.controller, from: "c2", .subscribe(prefix: "cache"))
        h.receive(.controller, from: "c2", .subscribe(prefix: ""))  // two matches: still once
        h.receive(.invoker, from: "i1", .subscribe(prefix: "cacheInvalidation"))
        h.receive(.controller, from: "c3", .subscribe(prefix: "events"))

        let published = h.receive(.controller, from: "c1", .publish(topic: "cacheInvalidation"), opaque: bytes("{\"key\":1}"))
        #expect(published.publications.sorted() == [
            "c1:cacheInvalidation:controller/c1:{\"key\":1}",
            "c2:cacheInvalidation:controller/c1:{\"key\":1}",
            "i1:cacheInvalidation:controller/c1:{\"key\":1}",
        ])
        #expect(published.errors.isEmpty)
        #expect(h.core.counters.publicationsReceived == 1)
        #expect(h.core.counters.publicationsDelivered == 3)

        let fromInvoker = h.receive(.invoker, from: "i1", .publish(topic: "events"), opaque: bytes("e"))
        #expect(fromInvoker.publications.sorted() == ["c2:events:invoker/i1:e", "c3:events:invoker/i1:e"])
    }

    @Test("§6.5 nobody subscribed: counted as unheard, no reply, no error")
    func unheard() {
        var h = Harness()
        h.controllerHello("c1")
        let published = h.receive(.controller, from: "c1", .publish(topic: "events"), opaque: bytes("e"))
        #expect(published.actions.isEmpty)
        #expect(h.core.counters.publicationsUnheard == 1)
    }

    @Test("§4.13 UNSUBSCRIBE stops delivery; unknown prefixes are ignored")
    func unsubscribe() {
        var h = Harness()
        h.controllerHello("c1")
        h.receive(.controller, from: "c1", .subscribe(prefix: "health"))
        #expect(h.receive(.controller, from: "c1", .unsubscribe(prefix: "nothing")).actions.isEmpty)
        #expect(h.receive(.controller, from: "c1", .publish(topic: "health"), opaque: bytes("p")).publications.count == 1)
        h.receive(.controller, from: "c1", .unsubscribe(prefix: "health"))
        #expect(h.receive(.controller, from: "c1", .publish(topic: "health"), opaque: bytes("p")).publications.isEmpty)
    }

    @Test("§4.13 subscriptions end with the session: GOODBYE, liveness loss; §3.3 a repeated HELLO on the same connection keeps them")
    func subscriptionsEndWithSession() {
        var h = Harness()
        h.controllerHello("c1")
        h.controllerHello("pub")
        h.invokerHello("i1")
        h.receive(.controller, from: "c1", .subscribe(prefix: ""))
        h.receive(.invoker, from: "i1", .subscribe(prefix: ""))

        // A repeated HELLO on the live session's own connection keeps the session (§3.3).
        h.controllerHello("c1")
        var published = h.receive(.controller, from: "pub", .publish(topic: "t"), opaque: bytes("1"))
        #expect(published.publications.sorted() == ["c1:t:controller/pub:1", "i1:t:controller/pub:1"])
        h.receive(.controller, from: "c1", .unsubscribe(prefix: ""))

        // The invoker falls silent and is declared dead: it gets nothing more.
        h.stopHeartbeats("i1")
        h.advance(by: .seconds(10))
        published = h.receive(.controller, from: "pub", .publish(topic: "t"), opaque: bytes("2"))
        #expect(published.publications.isEmpty)

        // A controller that says GOODBYE gets nothing either, even after a new HELLO, until it subscribes.
        h.receive(.controller, from: "c1", .subscribe(prefix: "t"))
        h.controllerGoodbye("c1")
        #expect(h.receive(.controller, from: "pub", .publish(topic: "t"), opaque: bytes("3")).publications.isEmpty)
        h.controllerHello("c1")
        #expect(h.receive(.controller, from: "pub", .publish(topic: "t"), opaque: bytes("4")).publications.isEmpty)
    }

    @Test("§4.13 a 33rd prefix is refused with ERROR oversize; the first 32 keep working")
    func subscriptionLimit() {
        var h = Harness()
        h.controllerHello("c1")
        for index in 0..<ProtocolConstants.maxSubscriptions {
            #expect(h.receive(.controller, from: "c1", .subscribe(prefix: "t\(index)")).errors.isEmpty)
        }
        // The same prefix again is not a new one.
        #expect(h.receive(.controller, from: "c1", .subscribe(prefix: "t0")).errors.isEmpty)
        let refused = h.receive(.controller, from: "c1", .subscribe(prefix: "extra"))
        #expect(refused.errors.map(\.code) == [.oversize])
        #expect(refused.errors.first?.report.reason.contains("32") == true)
        #expect(h.core.counters.protocolErrors(.oversize) == 1)
        #expect(h.receive(.controller, from: "c1", .publish(topic: "extra"), opaque: bytes("x")).publications.isEmpty)
        #expect(h.receive(.controller, from: "c1", .publish(topic: "t31"), opaque: bytes("x")).publications.count == 1)
    }

    @Test("§3.3 PUBLISH and SUBSCRIBE without a session get notRegistered")
    func needsSession() {
        var h = Harness()
        h.controllerHello("c1")
        h.receive(.controller, from: "c1", .subscribe(prefix: ""))
        let stranger = h.receive(.invoker, from: "ghost", .publish(topic: "t"), opaque: bytes("x"))
        #expect(stranger.errors(to: "ghost").map(\.code) == [.notRegistered])
        #expect(stranger.publications.isEmpty)
        #expect(h.receive(.controller, from: "nobody", .subscribe(prefix: "")).errors.map(\.code) == [.notRegistered])
    }

    @Test("§6.5 an undeliverable publication is counted as dropped and leaves the subscriber's session alone")
    func dropped() {
        var h = Harness()
        h.controllerHello("c1")
        h.receive(.controller, from: "c1", .subscribe(prefix: ""))
        h.receive(.controller, from: "c1", .publish(topic: "t"), opaque: bytes("x"))
        let followUp = h.handle(.publicationUndelivered)
        #expect(followUp.actions.isEmpty)
        #expect(h.core.counters.publicationsDropped == 1)
        #expect(h.core.counters.publicationsDelivered == 1, "handed to the shell; the failure is counted in publicationsDropped")
        #expect(h.core.connectedControllerCount == 1)
        // Activations are unaffected.
        h.invokerHello("i1")
        #expect(h.activate("a1").dispatchedIDs == ["a1"])
    }

    @Test("§6.5 the same routing id on both endpoints is two sessions with their own subscriptions")
    func sameRouteBothEndpoints() {
        var h = Harness()
        h.controllerHello("c1", connection: "same")
        h.receive(.controller, from: "same", .subscribe(prefix: "x."))
        h.invokerHello("i1", connection: "same")  // an invoker HELLO must not end the controller's subscriptions
        let published = h.receive(.invoker, from: "same", .publish(topic: "x.1"), opaque: bytes("p"))
        #expect(published.actions.compactMap { action -> Endpoint? in
            guard case .send(let endpoint, _, .publication, _) = action else { return nil }
            return endpoint
        } == [.controller])
    }

    @Test("§3.3 a controller replaced by a new connection: the old connection gets no more publications")
    func replacedControllerConnection() {
        var h = Harness()
        h.controllerHello("c1", connection: "old")
        h.receive(.controller, from: "old", .subscribe(prefix: "z"))
        h.controllerHello("c1", connection: "new")
        h.controllerHello("pub")
        #expect(h.receive(.controller, from: "pub", .publish(topic: "z.1"), opaque: bytes("p")).publications.isEmpty)
        h.receive(.controller, from: "new", .subscribe(prefix: "z"))
        #expect(h.receive(.controller, from: "pub", .publish(topic: "z.1"), opaque: bytes("p")).publications == ["new:z.1:controller/pub:p"])
    }
}
