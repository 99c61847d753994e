import SluiceProtocol

/// A session's connection: the same routing id can exist on both endpoints.
struct SessionKey: Hashable {
    var endpoint: Endpoint
    var route: RoutingID
}

/// One session's topic prefixes (§4.13).
struct Subscriber {
    var prefixes: [String] = []

    func matches(_ topic: String) -> Bool {
        prefixes.contains { topic.utf8.starts(with: $0.utf8) }
    }
}

extension BrokerCore {
    /// SUBSCRIBE, UNSUBSCRIBE and PUBLISH from a peer with a session (§4.13, §4.14, §6.5).
    mutating func broadcastCommand(_ message: Message, from route: RoutingID, endpoint: Endpoint, peerID: String,
                                   opaque: Payload?, into actions: inout [BrokerAction<Payload>]) {
        switch message {
        case .subscribe(let prefix):
            let key = SessionKey(endpoint: endpoint, route: route)
            var subscriber = subscribers[key] ?? Subscriber()
            if subscriber.prefixes.contains(prefix) { return }
            guard subscriber.prefixes.count < ProtocolConstants.maxSubscriptions else {
                reply(endpoint, route, .oversize,
                      "a session holds at most \(ProtocolConstants.maxSubscriptions) topic prefixes; SUBSCRIBE '\(prefix)' ignored (§4.13)",
                      into: &actions)
                return
            }
            subscriber.prefixes.append(prefix)
            subscribers[key] = subscriber
        case .unsubscribe(let prefix):
            let key = SessionKey(endpoint: endpoint, route: route)
            guard var subscriber = subscribers[key] else { return }
            subscriber.prefixes.removeAll { $0 == prefix }
            subscribers[key] = subscriber.prefixes.isEmpty ? nil : subscriber
        case .publish(let topic):
            guard let opaque else { preconditionFailure("PUBLISH decoded without its payload frame") }
            counters.publicationsReceived += 1
            let header = PublicationHeader(topic: topic, originRole: endpoint == .controller ? .controller : .invoker, originID: peerID)
            var reached = 0
            for (key, subscriber) in subscribers where subscriber.matches(topic) {
                reached += 1
                actions.append(.send(key.endpoint, key.route, .publication(header), opaque: opaque))
            }
            counters.publicationsDelivered += reached
            if reached == 0 { counters.publicationsUnheard += 1 }
        default:
            preconditionFailure("\(message.command) is not a broadcast command")
        }
    }

    /// A session ended: its subscriptions go with it (§4.13).
    /// A session ended: its subscriptions (§4.13) and its part in the cluster (§9.1) go.
    mutating func endSession(_ endpoint: Endpoint, _ route: RoutingID) {
        let key = SessionKey(endpoint: endpoint, route: route)
        subscribers.removeValue(forKey: key)
        if !clusterSessions.isEmpty { clusterSessions.remove(key) }
    }

    /// The shell could not hand a publication to a subscriber (its pipe is full or gone).
    /// Best effort (§6.5): counted, nothing else.
    mutating func publicationUndelivered() {
        counters.publicationsDropped += 1
    }
}
