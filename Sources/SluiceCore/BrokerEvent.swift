import SluiceProtocol

/// Which broker endpoint a message arrived on or leaves through.
public enum Endpoint: String, Sendable {
    case controller, invoker
}

/// Something that happened, fed to `BrokerCore.handle`. `Payload` is the opaque frame type:
/// a ZeroMQ message in the broker, a byte array in tests.
public enum BrokerEvent<Payload: FrameBytes> {
    /// A message from a peer, already decoded (or the reason it could not be), with its opaque
    /// frame when the message carries one.
    case received(Endpoint, RoutingID, Result<Message, ProtocolError>, opaque: Payload?)
    /// Time passed: fire deadlines, heartbeats, liveness checks and expiry.
    case tick
    /// The shell could not hand a DISPATCH to its invoker (`unreachable`: the connection is
    /// gone; otherwise its pipe was full). The payload comes back unsent; the activation goes
    /// back to the head of the queue and the invoker's session ends.
    case dispatchFailed(RoutingID, RoutingHeader, payload: Payload, unreachable: Bool)
    /// The shell could not deliver an ANSWER: the controller's connection is gone or full.
    case answerUndeliverable(RoutingID, AnswerHeader, result: Payload?)
    /// The shell could not hand a publication (§4.14) to a subscriber: counted, never retried.
    case publicationUndelivered
    /// The shell could not hand an ERROR, HEARTBEAT or WELCOME to a peer (connection full or
    /// gone): counted, never retried (§7).
    case replyUndelivered
    /// The shell's CURVE authenticator let a client key in, or refused it (counted only).
    case authentication(endpoint: Endpoint?, accepted: Bool)
    /// Graceful shutdown began: refuse new work, answer everything waiting.
    case beginShutdown
    /// The grace period is over: answer everything still in flight.
    case finishShutdown
    /// The overflow store refused to keep a waiting activation (its budget is full).
    case overflowRejected(activationID: String, reason: String)
    /// Waiting work a previous run left in the overflow store, in order, with how long each
    /// has already waited.
    case recovered([(header: RoutingHeader, payload: Payload, waited: Duration)])
    /// Recovered records the store cannot vouch for (damage after them may have been their
    /// consume mark): answered `systemError` and never run (docs/ARCHITECTURE.md, "Overflow").
    case recoveredUncertain([RoutingHeader], reason: String)
    /// The overflow store broke: these journaled activations are left in the store for the
    /// next run. Each is forgotten without an answer: taken out of the waiting queue, or its
    /// slot freed if its DISPATCH was held back (never sent), or its held ANSWER dropped.
    case overflowWithheld(activationIDs: [String], reason: String)
    /// The cluster's members, as etcd last showed them (§9.1); only in a cluster.
    case membersChanged([ClusterMember])
    /// The slots the other members advertise (from etcd): this broker enforces its share of
    /// every namespace limit; only in a cluster.
    case otherMembersSlots(Int)
    /// The shell handed over a batch of received messages. With
    /// `BrokerConfiguration.batchesPlacement`, slots freed by the batch's completions are
    /// offered to waiting work now, in one pass, rather than once per completion.
    case endOfBatch
}

/// Something the shell must do.
public enum BrokerAction<Payload: FrameBytes> {
    /// Send `message` (and its opaque frame, if the message has one) to a peer.
    case send(Endpoint, RoutingID, Message, opaque: Payload?)
    /// Something an operator wants to know; the shell logs it.
    case notice(BrokerNotice)
    /// Keep this waiting activation in the overflow store (`persistOverflow` only).
    case overflowAppend(RoutingHeader, payload: Payload, enqueuedAt: Timestamp)
    /// It left the waiting queue; the shell makes this durable before any later DISPATCH.
    case overflowConsume(activationID: String)
}

/// Notable events, logged by the shell; tests assert on them.
public enum BrokerNotice: Equatable, Sendable {
    case controllerRegistered(id: String, reconnected: Bool, parkedAnswers: Int)
    case controllerLost(id: String)
    case invokerRegistered(id: String, memoryMB: UInt32, slots: UInt32, replacedConnection: Bool)
    case invokerLost(id: String, reason: String, inFlightAnswered: Int)
    case invokerHealthChanged(id: String, health: String)
    case strategyContractBroken(strategy: String, invokerID: String)
    case parkedAnswersDropped(controllerID: String, count: Int, reason: String)
    case protocolError(Endpoint, RoutingID, code: String, reason: String)
}
