import SluiceProtocol

extension BrokerCore {
    mutating func controllerSent(_ message: Message, from route: RoutingID, opaque: Payload?, into actions: inout [BrokerAction<Payload>]) {
        if case .controllerHello(let controllerID) = message {
            controllerHello(controllerID, from: route, into: &actions)
            return
        }
        guard let controllerID = controllerIDByRoute[route], let index = controllers.index(forKey: controllerID) else {
            reply(.controller, route, .notRegistered, "send HELLO first: this connection has no session (§3.3)",
                  activationID: message.activationID ?? "", into: &actions)
            return
        }
        // In place: copying the state out and back would copy its parked answers.
        controllers.values[index].lastSeen = now

        switch message {
        case .heartbeat:
            break
        case .goodbye:
            disconnectController(controllerID)
        case .cluster:
            clusterRequested(.controller, route, controllerID: controllerID, into: &actions)
        case .follow:
            controllers[controllerID]?.follows = true
        case .invokers:
            actions.append(.send(.controller, route, .inventory(inventory(maxBytes: Int(welcome.maxMessageBytes))), opaque: nil))
        case .activate(let header):
            activate(header, payload: opaque, from: controllerID, route: route, into: &actions)
        case .subscribe, .unsubscribe, .publish:
            broadcastCommand(message, from: route, endpoint: .controller, peerID: controllerID, opaque: opaque, into: &actions)
        default:
            preconditionFailure("codec let \(message.command) through on the controller endpoint")
        }
    }

    mutating func controllerHello(_ controllerID: String, from route: RoutingID, into actions: inout [BrokerAction<Payload>]) {
        if let previous = controllerIDByRoute[route], previous != controllerID {
            disconnectController(previous)
        }
        // Taken out of the dictionary, so changing it copies nothing.
        let known = controllers.removeValue(forKey: controllerID)
        let reconnected = known != nil
        var controller = known ?? ControllerState(id: controllerID, route: nil, lastSeen: now)
        // A HELLO starts a session with no subscriptions (§4.13), except a repeated HELLO on
        // the live session's own connection, which keeps the session as it is (§3.3).
        if known?.route != route {
            endSession(.controller, route)
            // FOLLOW belongs to the session, as subscriptions do (§10.1).
            controller.follows = false
            controller.heartbeatDue = firstHeartbeat(for: controllerID)
        }
        if let old = controller.route, old != route {
            // The old connection's session is over (§3.3): it gets nothing more.
            controllerIDByRoute.removeValue(forKey: old)
            endSession(.controller, old)
        }
        controller.route = route
        controller.lastSeen = now
        controllerIDByRoute[route] = controllerID
        let parked = controller.parkedCount
        actions.append(.notice(.controllerRegistered(id: controllerID, reconnected: reconnected, parkedAnswers: parked)))
        actions.append(.send(.controller, route, .welcome(welcome), opaque: nil))
        // Answers kept while it was away go out in order, after WELCOME.
        while let entry = controller.parked.popFirst() {
            unpark(entry)
            counters.answersDelivered += 1
            actions.append(.send(.controller, route, .answer(entry.answer), opaque: entry.result))
        }
        controllers[controllerID] = controller
    }

    mutating func disconnectController(_ controllerID: String) {
        guard var controller = controllers.removeValue(forKey: controllerID) else { return }
        if let route = controller.route, controllerIDByRoute[route] == controllerID {
            controllerIDByRoute.removeValue(forKey: route)
            endSession(.controller, route)
            // Sends already on their way to this connection may still fail; their answers
            // must find the controller (one former route per controller, forgotten after the
            // liveness window, so this stays bounded).
            if let older = controller.formerRoute, older != route, formerControllerRoutes[older] == controllerID {
                formerControllerRoutes.removeValue(forKey: older)
            }
            controller.formerRoute = route
            formerControllerRoutes[route] = controllerID
            formerControllerRouteTimes.append((route, now))
        }
        controller.route = nil
        // A controller with nothing kept for it is forgotten: a peer cycling through ids
        // leaves nothing behind (issue 13, item 7). Its next HELLO starts afresh.
        if !controller.parked.isEmpty { controllers[controllerID] = controller }
    }

    /// Former routes older than the liveness window (no send to them can still be pending).
    mutating func forgetFormerControllerRoutes() {
        let window = configuration.livenessWindow
        while let oldest = formerControllerRouteTimes.first, now.since(oldest.at) > window {
            formerControllerRouteTimes.removeFirst()
            if let id = formerControllerRoutes.removeValue(forKey: oldest.route), controllers[id]?.formerRoute == oldest.route {
                controllers[id]?.formerRoute = nil
            }
        }
    }

    /// Sends an answer to its controller's current connection, or parks it (§6.4).
    mutating func deliver(_ answer: AnswerHeader, result: Payload?, to controllerID: String, into actions: inout [BrokerAction<Payload>]) {
        if let route = controllers[controllerID]?.route {
            counters.answersDelivered += 1
            actions.append(.send(.controller, route, .answer(answer), opaque: result))
        } else {
            park(answer, result: result, for: controllerID, into: &actions)
        }
    }

    /// Keeps an answer for an absent controller (§6.4): O(1), in place, within the bounds per
    /// controller, in total, and in result bytes; past any of them it is dropped and counted.
    mutating func park(_ answer: AnswerHeader, result: Payload?, for controllerID: String, into actions: inout [BrokerAction<Payload>]) {
        let bytes = result?.count ?? 0
        let refusal: String?
        if controllers[controllerID]?.parked.count ?? 0 >= configuration.maxParkedAnswersPerController {
            refusal = "more than \(configuration.maxParkedAnswersPerController) answers kept for this controller"
        } else if parkedTotal >= configuration.maxParkedAnswers {
            refusal = "more than \(configuration.maxParkedAnswers) answers kept for absent controllers in total"
        } else if parkedBytes + bytes > configuration.maxParkedAnswerBytes {
            refusal = "more than \(configuration.maxParkedAnswerBytes) result bytes kept for absent controllers"
        } else {
            refusal = nil
        }
        if let refusal {
            counters.answersDropped += 1
            actions.append(.notice(.parkedAnswersDropped(controllerID: controllerID, count: 1, reason: refusal)))
            return
        }
        parkedTotal += 1
        parkedBytes += bytes
        controllers[controllerID, default: ControllerState(id: controllerID, route: nil, lastSeen: now)]
            .parked.append(ParkedAnswer(answer: answer, result: result, parkedAt: now))
        counters.answersParked += 1
    }

    /// Takes a parked answer off the totals.
    mutating func unpark(_ entry: ParkedAnswer<Payload>) {
        parkedTotal -= 1
        parkedBytes -= entry.result?.count ?? 0
    }

    mutating func answerUndeliverable(route: RoutingID, answer: AnswerHeader, result: Payload?, into actions: inout [BrokerAction<Payload>]) {
        // The answer was counted when it was made; its delivery is tried again (or dropped).
        counters.answersUndelivered += 1
        if let controllerID = controllerIDByRoute[route] {
            disconnectController(controllerID)
            actions.append(.notice(.controllerLost(id: controllerID)))
            park(answer, result: result, for: controllerID, into: &actions)
        } else if let controllerID = formerControllerRoutes[route] {
            // One of a burst sent before an earlier failure ended the session: keep it too,
            // in order, for the controller's next HELLO (§6.4).
            park(answer, result: result, for: controllerID, into: &actions)
        } else {
            counters.answersDropped += 1
            actions.append(.notice(.parkedAnswersDropped(controllerID: "?", count: 1, reason: "connection unknown")))
        }
    }
}

// MARK: Bookkeeping for platforms with their own books (§10)

extension BrokerCore {
    /// COMPLETED (§10.1) for an activation whose answer already went out, when its controller
    /// follows: a notice, never kept for an absent controller, never an answer.
    mutating func notifyCompleted(_ record: InFlightRecord, id: String, invokerID: String, systemError: Bool,
                                  cause: CompletedNotice.Cause, into actions: inout [BrokerAction<Payload>]) {
        guard record.answered, let controller = controllers[record.answerTo], controller.follows, let route = controller.route else { return }
        let notice = CompletedNotice(activationID: id, invokerID: invokerID, systemError: systemError, cause: cause)
        actions.append(.send(.controller, route, .completed(notice), opaque: nil))
    }

    /// INVENTORY (§10.1): the invokers in id order, as many as fit in `maxBytes`.
    func inventory(maxBytes: Int) -> Inventory {
        let controllersConnected = UInt16(clamping: connectedControllerCount)
        // Signature, command and the header's fixed part, with room to spare.
        var size = 64
        var entries: [Inventory.Entry] = []
        for (id, invoker) in invokers.sorted(by: { $0.key < $1.key }) {
            let health: Inventory.Health = switch invoker.health {
            case .healthy: invoker.draining ? .draining : .healthy
            case .unhealthy: .unhealthy
            case .unresponsive: .unresponsive
            case .probing: .probing
            }
            let entry = Inventory.Entry(invokerID: id, health: health, memoryMB: invoker.memoryMB, slots: invoker.slots,
                                        usedMemoryMB: UInt32(clamping: invoker.usedMemoryMB), usedSlots: invoker.usedSlots,
                                        tags: invoker.tags, dedicatedNamespaces: invoker.dedicatedNamespaces)
            let entrySize = 2 + id.utf8.count + 1 + 16 + 2 + (invoker.tags + invoker.dedicatedNamespaces).reduce(0) { $0 + 2 + $1.utf8.count }
            guard size + entrySize <= maxBytes, entries.count < Inventory.maxEntries else { break }
            size += entrySize
            entries.append(entry)
        }
        return Inventory(controllers: controllersConnected, invokers: entries)
    }
}
