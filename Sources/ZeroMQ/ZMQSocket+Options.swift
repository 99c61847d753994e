import CZeroMQ

/// Typed socket options. Each setter throws `ZMQError` naming the option on failure.
extension ZMQSocket {
    func setIntOption(_ option: Int32, _ value: Int32, name: String) throws(ZMQError) {
        var value = value
        if zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError.last("zmq_setsockopt(\(name))")
        }
    }

    func intOption(_ option: Int32, name: String) throws(ZMQError) -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(handle, option, &value, &size) != 0 {
            throw ZMQError.last("zmq_getsockopt(\(name))")
        }
        return value
    }

    func int64Option(_ option: Int32, name: String) throws(ZMQError) -> Int64 {
        var value: Int64 = 0
        var size = MemoryLayout<Int64>.size
        if zmq_getsockopt(handle, option, &value, &size) != 0 {
            throw ZMQError.last("zmq_getsockopt(\(name))")
        }
        return value
    }

    /// The file descriptor that signals this socket may have events (`ZMQ_FD`). It is not
    /// the data stream: when it turns readable, read `isReadable` (`ZMQ_EVENTS`) and receive
    /// until nothing is left; any send or receive may consume its signal.
    public var fileDescriptor: Int32 { get throws(ZMQError) { try intOption(ZMQ_FD, name: "ZMQ_FD") } }

    /// Milliseconds unsent messages are kept after close (`ZMQ_LINGER`); -1 waits forever.
    public func setLinger(milliseconds: Int32) throws(ZMQError) {
        try setIntOption(ZMQ_LINGER, milliseconds, name: "ZMQ_LINGER")
    }
    public var linger: Int32 { get throws(ZMQError) { try intOption(ZMQ_LINGER, name: "ZMQ_LINGER") } }

    /// Send high-water mark in messages (`ZMQ_SNDHWM`); 0 means no limit.
    public func setSendHighWaterMark(_ messages: Int32) throws(ZMQError) {
        try setIntOption(ZMQ_SNDHWM, messages, name: "ZMQ_SNDHWM")
    }
    public var sendHighWaterMark: Int32 { get throws(ZMQError) { try intOption(ZMQ_SNDHWM, name: "ZMQ_SNDHWM") } }

    /// Receive high-water mark in messages (`ZMQ_RCVHWM`); 0 means no limit.
    public func setReceiveHighWaterMark(_ messages: Int32) throws(ZMQError) {
        try setIntOption(ZMQ_RCVHWM, messages, name: "ZMQ_RCVHWM")
    }
    public var receiveHighWaterMark: Int32 { get throws(ZMQError) { try intOption(ZMQ_RCVHWM, name: "ZMQ_RCVHWM") } }

    /// ROUTER only: fail sends to unknown peers with `EHOSTUNREACH` and to full peers with
    /// `EAGAIN` instead of dropping them silently (`ZMQ_ROUTER_MANDATORY`).
    public func setRouterMandatory(_ enabled: Bool) throws(ZMQError) {
        try setIntOption(ZMQ_ROUTER_MANDATORY, enabled ? 1 : 0, name: "ZMQ_ROUTER_MANDATORY")
    }

    /// Largest inbound message in bytes (`ZMQ_MAXMSGSIZE`); a peer sending more is
    /// disconnected by libzmq. -1 means no limit.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) {
        var value = bytes
        if zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size) != 0 {
            throw ZMQError.last("zmq_setsockopt(ZMQ_MAXMSGSIZE)")
        }
    }
    public var maxMessageSize: Int64 { get throws(ZMQError) { try int64Option(ZMQ_MAXMSGSIZE, name: "ZMQ_MAXMSGSIZE") } }

    /// The identity this socket announces to a ROUTER (`ZMQ_ROUTING_ID`), 1-255 bytes.
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) {
        let result = id.withUnsafeBytes { zmq_setsockopt(handle, ZMQ_ROUTING_ID, $0.baseAddress, $0.count) }
        if result != 0 { throw ZMQError.last("zmq_setsockopt(ZMQ_ROUTING_ID)") }
    }

    /// Queue messages only to completed connections (`ZMQ_IMMEDIATE`); set on client DEALERs.
    public func setImmediate(_ enabled: Bool) throws(ZMQError) {
        try setIntOption(ZMQ_IMMEDIATE, enabled ? 1 : 0, name: "ZMQ_IMMEDIATE")
    }

    /// Reconnect interval and its exponential back-off ceiling, in milliseconds.
    public func setReconnectInterval(milliseconds: Int32, max: Int32) throws(ZMQError) {
        try setIntOption(ZMQ_RECONNECT_IVL, milliseconds, name: "ZMQ_RECONNECT_IVL")
        try setIntOption(ZMQ_RECONNECT_IVL_MAX, max, name: "ZMQ_RECONNECT_IVL_MAX")
    }

    /// Listen backlog for bound TCP endpoints (`ZMQ_BACKLOG`).
    public func setBacklog(_ connections: Int32) throws(ZMQError) {
        try setIntOption(ZMQ_BACKLOG, connections, name: "ZMQ_BACKLOG")
    }

    /// ZMTP-level heartbeats (`ZMQ_HEARTBEAT_IVL`/`TIMEOUT`). A helper only: libzmq's I/O
    /// thread answers them even when the application thread hangs.
    public func setTransportHeartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32) throws(ZMQError) {
        try setIntOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds, name: "ZMQ_HEARTBEAT_IVL")
        try setIntOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds, name: "ZMQ_HEARTBEAT_TIMEOUT")
    }

    /// SUB only: receive messages whose first frame starts with `prefix` (empty: everything).
    public func subscribe(_ prefix: [UInt8]) throws(ZMQError) {
        let result = prefix.withUnsafeBytes { zmq_setsockopt(handle, ZMQ_SUBSCRIBE, $0.baseAddress, $0.count) }
        if result != 0 { throw ZMQError.last("zmq_setsockopt(ZMQ_SUBSCRIBE)") }
    }
}
