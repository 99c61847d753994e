package org.sluice.client;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A controller's SLU/1 session: ACTIVATE out, one ANSWER back per activation (§4.6, §4.7), and
 * with {@code follow} the COMPLETED notices of §10.1; INVOKERS/INVENTORY on request.
 */
public final class ControllerSession extends Session {
    /** Callbacks, on the session thread. */
    public abstract static class Listener extends Session.PeerListener {
        public abstract void answer(Answer answer);
        public void completed(Completed notice) {}
    }

    /** ANSWER (§4.7). */
    public static final class Answer {
        public final String activationId;
        public final int kind;
        public final String invokerId;
        public final String reason;
        public final byte[] result;

        Answer(String activationId, int kind, String invokerId, String reason, byte[] result) {
            this.activationId = activationId;
            this.kind = kind;
            this.invokerId = invokerId;
            this.reason = reason;
            this.result = result;
        }

        public String kindName() { return Wire.kindName(kind); }
    }

    /** COMPLETED (§10.1): cause 0 completion, 1 invoker lost, 2 circuit breaker. */
    public static final class Completed {
        public final String activationId;
        public final String invokerId;
        public final boolean systemError;
        public final int cause;

        Completed(String activationId, String invokerId, boolean systemError, int cause) {
            this.activationId = activationId;
            this.invokerId = invokerId;
            this.systemError = systemError;
            this.cause = cause;
        }
    }

    /** INVENTORY (§10.1). */
    public static final class Inventory {
        public final int controllers;
        public final List<InvokerEntry> invokers;

        Inventory(int controllers, List<InvokerEntry> invokers) {
            this.controllers = controllers;
            this.invokers = Collections.unmodifiableList(invokers);
        }
    }

    /** One invoker of an INVENTORY; health 0 healthy, 1 unhealthy, 2 unresponsive, 3 draining, 4 probing. */
    public static final class InvokerEntry {
        public final String invokerId;
        public final int health;
        public final long memoryMB, slots, usedMemoryMB, usedSlots;
        public final List<String> tags, dedicatedNamespaces;

        InvokerEntry(String invokerId, int health, long memoryMB, long slots, long usedMemoryMB, long usedSlots, List<String> tags, List<String> dedicated) {
            this.invokerId = invokerId;
            this.health = health;
            this.memoryMB = memoryMB;
            this.slots = slots;
            this.usedMemoryMB = usedMemoryMB;
            this.usedSlots = usedSlots;
            this.tags = tags;
            this.dedicatedNamespaces = dedicated;
        }
    }

    private final boolean follow;
    private final Listener listener;
    private final Queue<CompletableFuture<Inventory>> inventoryWaiters = new ConcurrentLinkedQueue<>();

    public ControllerSession(String id, String endpoint, boolean follow, Listener listener) {
        super(id, endpoint, "sluice-controller-" + id, listener);
        this.follow = follow;
        this.listener = listener;
    }

    /** Sends an ACTIVATE. Throws when the payload is larger than the broker takes. */
    public void activate(RoutingHeader header, byte[] payload) {
        checkSize(payload);
        enqueue(Wire.ACTIVATE, header.encode(), payload);
    }

    /** Asks for the broker's invokers (INVOKERS, §10.1); the future completes with its INVENTORY. */
    public CompletableFuture<Inventory> inventory() {
        CompletableFuture<Inventory> future = new CompletableFuture<>();
        inventoryWaiters.add(future);
        enqueue(Wire.INVOKERS);
        return future;
    }

    @Override
    protected byte[] helloBody() { return new Wire.Writer().shortString(id).bytes(); }

    @Override
    protected List<byte[][]> afterHello() {
        List<byte[][]> messages = new ArrayList<>();
        if (follow) messages.add(new byte[][] {{Wire.FOLLOW}});
        return messages;
    }

    @Override
    protected void deliver(int command, byte[][] body) {
        switch (command) {
            case Wire.ANSWER: {
                Wire.Reader r = new Wire.Reader(body[0]);
                String activation = r.shortString("activation-id");
                int kind = r.u8("kind");
                String invoker = r.shortString("invoker-ref");
                String reason = r.longString("reason");
                r.end("ANSWER header");
                listener.answer(new Answer(activation, kind, invoker, reason, body.length > 1 ? body[1] : new byte[0]));
                break;
            }
            case Wire.COMPLETED: {
                Wire.Reader r = new Wire.Reader(body[0]);
                String activation = r.shortString("activation-id");
                String invoker = r.shortString("invoker-id");
                int flags = r.u8("completed-flags");
                listener.completed(new Completed(activation, invoker, (flags & 1) != 0, (flags & 2) != 0 ? 1 : (flags & 4) != 0 ? 2 : 0));
                break;
            }
            case Wire.INVENTORY: {
                Wire.Reader r = new Wire.Reader(body[0]);
                int controllers = r.u16("controllers");
                int count = r.u16("invoker-count");
                List<InvokerEntry> entries = new ArrayList<>(count);
                for (int i = 0; i < count; i++) {
                    entries.add(new InvokerEntry(r.shortString("invoker id"), r.u8("health"), r.u32("memory-mb"), r.u32("slots"),
                                                 r.u32("used-memory-mb"), r.u32("used-slots"), r.names("tags"), r.names("dedicated")));
                }
                Inventory inventory = new Inventory(controllers, entries);
                CompletableFuture<Inventory> waiter;
                while ((waiter = inventoryWaiters.poll()) != null) waiter.complete(inventory);
                break;
            }
            default:
                break;
        }
    }
}
