package org.sluice.client;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.zeromq.ZMQ;

/**
 * One SLU/1 session over a ZeroMQ DEALER (docs/PROTOCOL.md §2, §3.3, §4.3), shared by the
 * controller and invoker sessions: HELLO on connect, heartbeats at the broker's interval, a
 * new connection and HELLO when the broker is silent for the liveness window, HELLO again on
 * every {@code notRegistered}, SUBSCRIBEs again after every HELLO.
 *
 * <p>One thread owns the socket. Other threads hand it messages through a queue and wake it
 * through an inproc socket. Listener callbacks run on that thread: keep them short.
 */
public abstract class Session implements AutoCloseable {
    private static final int LIVENESS = 3;

    /** What every session reports, on the session thread; the roles' listeners add their own. */
    public abstract static class PeerListener {
        /** A publication (§4.14) for this session's subscriptions. */
        public void publication(String topic, String origin, byte[] payload) {}
        /** An ERROR from the broker (already acted on for notRegistered). */
        public void error(int code, String activationRef, String reason) {}
    }

    protected final String id;
    protected final String endpoint;
    private final PeerListener peerListener;
    private final ZMQ.Context context;
    private final String wakeAddress = "inproc://sluice-wake-" + UUID.randomUUID();
    private final ZMQ.Socket wakeSender;
    private final ZMQ.Socket wakeReceiver;
    private final ConcurrentLinkedQueue<byte[][]> outbox = new ConcurrentLinkedQueue<>();
    private final Set<String> subscriptions = ConcurrentHashMap.newKeySet();
    private final CountDownLatch welcomed = new CountDownLatch(1);
    private final Thread thread;
    private volatile boolean stopping;
    private volatile long heartbeatMillis = 1000;
    private volatile int maxMessageBytes = 2 * 1024 * 1024;
    private volatile String brokerId = "";
    private volatile int reconnects;

    protected Session(String id, String endpoint, String threadName, PeerListener peerListener) {
        if (!Wire.isValidId(id)) throw new IllegalArgumentException("id '" + id + "' is not [A-Za-z0-9._-]{1,128} (SLU/1 §3.2)");
        this.id = id;
        this.endpoint = endpoint;
        this.peerListener = peerListener;
        this.context = ZMQ.context(1);
        this.wakeReceiver = context.socket(ZMQ.PULL);
        wakeReceiver.bind(wakeAddress);
        this.wakeSender = context.socket(ZMQ.PUSH);
        wakeSender.connect(wakeAddress);
        this.thread = new Thread(this::run, threadName);
        thread.setDaemon(true);
    }

    /** Connects and says HELLO; returns at once ({@link #awaitWelcome} waits). */
    public void start() { thread.start(); }

    /** Waits up to {@code timeoutMillis} for the broker's WELCOME; returns whether it came. */
    public boolean awaitWelcome(long timeoutMillis) throws InterruptedException {
        return welcomed.await(timeoutMillis, TimeUnit.MILLISECONDS);
    }

    /** The largest frame the broker accepts (its WELCOME's max-message); larger ones would cost the connection. */
    public int maxMessageBytes() { return maxMessageBytes; }

    public String brokerId() { return brokerId; }

    /** New connections made after the broker fell silent. */
    public int reconnects() { return reconnects; }

    /** Receives every later publication whose topic starts with {@code prefix}; kept across reconnects. */
    public void subscribe(String prefix) {
        if (subscriptions.add(prefix)) enqueue(Wire.SUBSCRIBE, new Wire.Writer().shortString(prefix).bytes());
    }

    public void unsubscribe(String prefix) {
        if (subscriptions.remove(prefix)) enqueue(Wire.UNSUBSCRIBE, new Wire.Writer().shortString(prefix).bytes());
    }

    /** Publishes {@code payload} on {@code topic}, best effort (§4.14, §6.5). */
    public void publish(String topic, byte[] payload) {
        checkSize(payload);
        enqueue(Wire.PUBLISH, new Wire.Writer().shortString(topic).bytes(), payload);
    }

    /** Says GOODBYE and stops the session thread. */
    @Override
    public void close() {
        if (stopping) return;
        enqueue(Wire.GOODBYE);
        stopping = true;
        wake();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // MARK: For the role

    /** The HELLO body frame. Asked on every announcement, so it carries the current capacity. */
    protected abstract byte[] helloBody();

    /** Messages that follow every HELLO (before the SUBSCRIBEs), as [command, body...]. */
    protected List<byte[][]> afterHello() { return new ArrayList<>(); }

    /** A message from the broker other than WELCOME, HEARTBEAT and ERROR. On the session thread. */
    protected abstract void deliver(int command, byte[][] body);

    /** Throws when a frame is larger than the broker accepts (libzmq would drop the connection). */
    protected final void checkSize(byte[] frame) {
        if (frame.length > maxMessageBytes) {
            throw new IllegalArgumentException("message is " + frame.length + " bytes; the broker takes at most " + maxMessageBytes + " (max-message)");
        }
    }

    /** Queues a message ({@code command} and its body frames) for the broker. */
    protected final void enqueue(int command, byte[]... body) {
        byte[][] message = new byte[body.length + 2][];
        message[0] = Wire.SIGNATURE;
        message[1] = new byte[] {(byte) command};
        System.arraycopy(body, 0, message, 2, body.length);
        outbox.add(message);
        wake();
    }

    private void wake() {
        synchronized (wakeSender) {
            wakeSender.send(new byte[] {1}, ZMQ.DONTWAIT);
        }
    }

    // MARK: The session thread

    private List<byte[][]> announcement() {
        List<byte[][]> messages = new ArrayList<>();
        messages.add(new byte[][] {Wire.SIGNATURE, {Wire.HELLO}, helloBody()});
        for (byte[][] extra : afterHello()) {
            byte[][] message = new byte[extra.length + 1][];
            message[0] = Wire.SIGNATURE;
            System.arraycopy(extra, 0, message, 1, extra.length);
            messages.add(message);
        }
        for (String prefix : subscriptions) {
            messages.add(new byte[][] {Wire.SIGNATURE, {Wire.SUBSCRIBE}, new Wire.Writer().shortString(prefix).bytes()});
        }
        return messages;
    }

    private ZMQ.Socket connect() {
        ZMQ.Socket socket = context.socket(ZMQ.DEALER);
        socket.setLinger(500);
        socket.setReconnectIVL(100);
        socket.setReconnectIVLMax(1_000);
        socket.connect(endpoint);
        return socket;
    }

    private void run() {
        ZMQ.Socket socket = connect();
        Deque<byte[][]> pending = new ArrayDeque<>(announcement());
        long lastHeard = System.currentTimeMillis();
        long lastSent = 0;
        try {
            while (true) {
                ZMQ.Poller poller = new ZMQ.Poller(2);
                poller.register(socket, ZMQ.Poller.POLLIN);
                poller.register(wakeReceiver, ZMQ.Poller.POLLIN);
                boolean reconnect = false;
                while (!reconnect) {
                    poller.poll(Math.min(heartbeatMillis, 100));
                    while (wakeReceiver.recv(ZMQ.DONTWAIT) != null) { /* drained */ }
                    byte[] first;
                    while ((first = socket.recv(ZMQ.DONTWAIT)) != null) {
                        List<byte[]> frames = new ArrayList<>();
                        frames.add(first);
                        while (socket.hasReceiveMore()) frames.add(socket.recv(0));
                        lastHeard = System.currentTimeMillis();
                        handle(frames, pending);
                    }
                    byte[][] queued;
                    while ((queued = outbox.poll()) != null) pending.add(queued);
                    while (!pending.isEmpty()) {
                        if (!send(socket, pending.peekFirst())) break;
                        pending.removeFirst();
                        lastSent = System.currentTimeMillis();
                    }
                    if (stopping && pending.isEmpty()) return;
                    long now = System.currentTimeMillis();
                    if (now - lastSent >= heartbeatMillis) {
                        send(socket, new byte[][] {Wire.SIGNATURE, {Wire.HEARTBEAT}});
                        lastSent = now;
                    }
                    if (stopping) return;
                    if (now - lastHeard > heartbeatMillis * LIVENESS) reconnect = true;
                }
                // The broker fell silent: a fresh connection, and HELLO again.
                reconnects++;
                socket.close();
                socket = connect();
                List<byte[][]> again = announcement();
                for (int i = again.size() - 1; i >= 0; i--) pending.addFirst(again.get(i));
                lastHeard = System.currentTimeMillis();
            }
        } finally {
            socket.close();
            wakeReceiver.close();
            wakeSender.close();
            context.term();
        }
    }

    /** Sends one multipart message without blocking; false when the connection cannot take it now. */
    private static boolean send(ZMQ.Socket socket, byte[][] message) {
        for (int i = 0; i < message.length; i++) {
            int flags = (i < message.length - 1 ? ZMQ.SNDMORE : 0) | (i == 0 ? ZMQ.DONTWAIT : 0);
            if (!socket.send(message[i], flags)) {
                if (i == 0) return false;
                throw new IllegalStateException("libzmq refused part " + i + " of a message");
            }
        }
        return true;
    }

    private void handle(List<byte[]> frames, Deque<byte[][]> pending) {
        if (frames.size() < 2 || !Arrays.equals(frames.get(0), Wire.SIGNATURE) || frames.get(1).length != 1) return;
        int command = frames.get(1)[0] & 0xFF;
        byte[][] body = frames.subList(2, frames.size()).toArray(new byte[0][]);
        try {
            switch (command) {
                case Wire.WELCOME: {
                    Wire.Reader r = new Wire.Reader(body[0]);
                    brokerId = r.shortString("broker id");
                    heartbeatMillis = Math.max(10, r.u32("heartbeat-ms"));
                    maxMessageBytes = (int) Math.min(Integer.MAX_VALUE, r.u32("max-message"));
                    welcomed.countDown();
                    break;
                }
                case Wire.HEARTBEAT:
                    break;
                case Wire.PUBLISH: {
                    Wire.Reader r = new Wire.Reader(body[0]);
                    String topic = r.shortString("topic");
                    r.u8("origin-role");
                    peerListener.publication(topic, r.shortString("origin"), body[1]);
                    break;
                }
                case Wire.ERROR: {
                    Wire.Reader r = new Wire.Reader(body[0]);
                    int code = r.u16("code");
                    String ref = r.shortString("activation-ref");
                    String reason = r.longString("reason");
                    if (code == Wire.ERROR_NOT_REGISTERED) {
                        // The broker does not know this connection (it restarted, or declared us dead).
                        List<byte[][]> again = announcement();
                        for (int i = again.size() - 1; i >= 0; i--) pending.addFirst(again.get(i));
                    }
                    peerListener.error(code, ref, reason);
                    break;
                }
                default:
                    deliver(command, body);
            }
        } catch (RuntimeException e) {
            System.err.println("sluice: undecodable message from the broker (command " + command + "): " + e.getMessage());
        }
    }

    static String utf8(byte[] bytes) { return new String(bytes, StandardCharsets.UTF_8); }
}
