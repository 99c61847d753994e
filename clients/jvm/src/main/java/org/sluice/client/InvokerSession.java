package org.sluice.client;

import java.util.ArrayList;
import java.util.List;

/**
 * An invoker's SLU/1 session: HELLO with its capacity (its credit, §4.1), DISPATCH in,
 * RESULT and COMPLETION out (§4.9-§4.11), CAPACITY to change or drain (§4.8). A drained
 * invoker says so again in the HELLO of a reconnect.
 */
public final class InvokerSession extends Session {
    /** Callbacks, on the session thread. */
    public abstract static class Listener extends Session.PeerListener {
        public abstract void dispatch(RoutingHeader header, byte[] payload);
    }

    private final List<String> tags;
    private final List<String> dedicatedNamespaces;
    private final Listener listener;
    private volatile long memoryMB;
    private volatile long slots;

    public InvokerSession(String id, String endpoint, long memoryMB, long slots, List<String> tags, List<String> dedicatedNamespaces, Listener listener) {
        super(id, endpoint, "sluice-invoker-" + id, listener);
        this.memoryMB = memoryMB;
        this.slots = slots;
        this.tags = tags == null ? new ArrayList<String>() : new ArrayList<>(tags);
        this.dedicatedNamespaces = dedicatedNamespaces == null ? new ArrayList<String>() : new ArrayList<>(dedicatedNamespaces);
        this.listener = listener;
    }

    /** RESULT (§4.10): the answer; the slot stays busy until {@link #completion}. Outcome 0 success, 1 application error, 2 system error. */
    public void result(String activationId, int outcome, byte[] result) {
        checkSize(result);
        enqueue(Wire.RESULT, new Wire.Writer().shortString(activationId).u8(outcome).bytes(), result);
    }

    /** COMPLETION (§4.11): frees the slot; with {@code result} non-null, the combined form. */
    public void completion(String activationId, byte[] result, int outcome, boolean systemError) {
        Wire.Writer header = new Wire.Writer().shortString(activationId).u8((result != null ? 1 : 0) | (systemError ? 2 : 0)).u8(result != null ? outcome : 0);
        if (result != null) {
            checkSize(result);
            enqueue(Wire.COMPLETION, header.bytes(), result);
        } else {
            enqueue(Wire.COMPLETION, header.bytes());
        }
    }

    /** CAPACITY (§4.8): the new total; 0/0 drains. Also what later HELLOs say. */
    public void capacity(long memoryMB, long slots) {
        this.memoryMB = memoryMB;
        this.slots = slots;
        enqueue(Wire.CAPACITY, new Wire.Writer().u32(memoryMB).u32(slots).bytes());
    }

    @Override
    protected byte[] helloBody() {
        Wire.Writer w = new Wire.Writer().shortString(id).u32(memoryMB).u32(slots).u8(tags.size());
        for (String tag : tags) w.shortString(tag);
        w.u8(dedicatedNamespaces.size());
        for (String namespace : dedicatedNamespaces) w.shortString(namespace);
        return w.bytes();
    }

    @Override
    protected void deliver(int command, byte[][] body) {
        switch (command) {
            case Wire.DISPATCH:
                listener.dispatch(RoutingHeader.decode(body[0]), body[1]);
                break;
            default:
                break;
        }
    }
}
