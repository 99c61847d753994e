import SluiceProtocol

extension BrokerCore {
    mutating func controllerSent(_ message: Message, from route: RoutingID, opaque: Payload?, into actions: inout [BrokerAction<Payload>]) {
        if case .controllerHello(let controllerID) = message {
            controllerHello(controllerID, from: route, into: &actions)
            return
        }
        guard let controllerID = controllerIDByRoute[route], var controller = controllers[controllerID] else {
            reply(.controller, route, .notRegistered, "send HELLO first: this connection has no session (§3.3)",
                  activationID: message.activationID ?? "", into: &actions)
            return
        }
        controller.lastSeen = now
        controllers[controllerID] = controller

        switch message {
        case .heartbeat:
            break
        case .goodbye:
            disconnectController(controllerID)
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
        var controller = controllers[controllerID] ?? ControllerState(id: controllerID, route: nil, lastSeen: now)
        let reconnected = controllers[controllerID] != nil
        // A HELLO starts a session with no subscriptions (§4.13).
        endSubscriptions(.controller, route)
        if let old = controller.route, old != route {
            // The old connection's session is over (§3.3): it gets nothing more.
            controllerIDByRoute.removeValue(forKey: old)
            endSubscriptions(.controller, old)
        }
        controller.route = route
        controller.lastSeen = now
        controllerIDByRoute[route] = controllerID
        let parked = controller.parkedCount
        actions.append(.notice(.controllerRegistered(id: controllerID, reconnected: reconnected, parkedAnswers: parked)))
        actions.append(.send(.controller, route, .welcome(welcome), opaque: nil))
        // Answers kept while it was away go out in order, after WELCOME.
        for index in controller.parkedHead..<controller.parked.count {
            let entry = controller.parked[index]
            counters.answersDelivered += 1
            actions.append(.send(.controller, route, .answer(entry.answer), opaque: entry.result))
        }
        controller.parked.removeAll()
        controller.parkedHead = 0
        controllers[controllerID] = controller
    }

    mutating func disconnectController(_ controllerID: String) {
        guard var controller = controllers[controllerID] else { return }
        if let route = controller.route, controllerIDByRoute[route] == controllerID {
            controllerIDByRoute.removeValue(forKey: route)
            endSubscriptions(.controller, route)
            // Sends already on their way to this connection may still fail; their answers
            // must find the controller (one former route per controller, so this stays bounded).
            if let older = controller.formerRoute, older != route, formerControllerRoutes[older] == controllerID {
                formerControllerRoutes.removeValue(forKey: older)
            }
            controller.formerRoute = route
            formerControllerRoutes[route] = controllerID
        }
        controller.route = nil
        controllers[controllerID] = controller
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

    mutating func park(_ answer: AnswerHeader, result: Payload?, for controllerID: String, into actions: inout [BrokerAction<Payload>]) {
        var controller = controllers[controllerID] ?? ControllerState(id: controllerID, route: nil, lastSeen: now)
        if controller.parkedCount >= configuration.maxParkedAnswersPerController {
            counters.answersDropped += 1
            actions.append(.notice(.parkedAnswersDropped(controllerID: controllerID, count: 1,
                                                         reason: "more than \(configuration.maxParkedAnswersPerController) answers kept")))
        } else {
            controller.parked.append(ParkedAnswer(answer: answer, result: result, parkedAt: now))
            counters.answersParked += 1
        }
        controllers[controllerID] = controller
    }

    mutating func answerUndeliverable(route: RoutingID, answer: AnswerHeader, result: Payload?, into actions: inout [BrokerAction<Payload>]) {
        // The answer was counted when it was made; only its delivery moves.
        counters.answersDelivered -= 1
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
