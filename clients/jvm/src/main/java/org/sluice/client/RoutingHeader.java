package org.sluice.client;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The routing header of ACTIVATE and DISPATCH (docs/PROTOCOL.md §4.6). */
public final class RoutingHeader {
    public final String activationId;
    public final String namespace;
    public final String action;
    public final String revision;
    public final long memoryMB;
    public final long timeLimitMillis;
    public final boolean blocking;
    public final boolean blackbox;
    /** Empty: the broker places it. */
    public final String targetInvoker;
    /** Empty: the sending controller. */
    public final String answerTo;
    public final List<String> requiredTags;
    /** 0: the broker's limit. */
    public final long maxWaitMillis;

    public RoutingHeader(String activationId, String namespace, String action, String revision, long memoryMB, long timeLimitMillis,
                         boolean blocking, boolean blackbox, String targetInvoker, String answerTo, List<String> requiredTags, long maxWaitMillis) {
        if (!Wire.isValidId(activationId)) throw new IllegalArgumentException("activation id '" + activationId + "' is not [A-Za-z0-9._-]{1,128}");
        if (memoryMB < 1 || timeLimitMillis < 1) throw new IllegalArgumentException("memory and time limit must be at least 1");
        this.activationId = activationId;
        this.namespace = namespace;
        this.action = action;
        this.revision = revision == null ? "" : revision;
        this.memoryMB = memoryMB;
        this.timeLimitMillis = timeLimitMillis;
        this.blocking = blocking;
        this.blackbox = blackbox;
        this.targetInvoker = targetInvoker == null ? "" : targetInvoker;
        this.answerTo = answerTo == null ? "" : answerTo;
        this.requiredTags = requiredTags == null ? Collections.<String>emptyList() : Collections.unmodifiableList(new ArrayList<>(requiredTags));
        this.maxWaitMillis = maxWaitMillis;
    }

    /** A header with OpenWhisk's default limits (256 MB, 60 s), placed by the broker. */
    public static RoutingHeader of(String activationId, String namespace, String action) {
        return new RoutingHeader(activationId, namespace, action, "", 256, 60_000, false, false, "", "", null, 0);
    }

    public byte[] encode() {
        Wire.Writer w = new Wire.Writer()
            .shortString(activationId).shortString(namespace).longString(action).shortString(revision)
            .u32(memoryMB).u32(timeLimitMillis).u8((blocking ? 1 : 0) | (blackbox ? 2 : 0))
            .shortString(targetInvoker).shortString(answerTo).u8(requiredTags.size());
        for (String tag : requiredTags) w.shortString(tag);
        return w.u32(maxWaitMillis).bytes();
    }

    public static RoutingHeader decode(byte[] frame) {
        Wire.Reader r = new Wire.Reader(frame);
        String id = r.shortString("activation-id");
        String namespace = r.shortString("namespace");
        String action = r.longString("action");
        String revision = r.shortString("revision");
        long memory = r.u32("memory-mb");
        long limit = r.u32("time-limit-ms");
        int flags = r.u8("flags");
        String target = r.shortString("target-invoker");
        String answerTo = r.shortString("answer-to");
        List<String> tags = r.names("required-tag");
        long maxWait = r.u32("max-wait-ms");
        r.end("routing header");
        return new RoutingHeader(id, namespace, action, revision, memory, limit, (flags & 1) != 0, (flags & 2) != 0, target, answerTo, tags, maxWait);
    }
}
