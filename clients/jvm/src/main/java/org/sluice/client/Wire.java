package org.sluice.client;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** SLU/1 constants and field encodings (docs/PROTOCOL.md §3, §4): big-endian integers, u8- and u16-prefixed UTF-8 strings. */
public final class Wire {
    private Wire() {}

    /** "SLU" and version 1. */
    public static final byte[] SIGNATURE = {0x53, 0x4C, 0x55, 0x01};

    public static final int HELLO = 0x01, WELCOME = 0x02, HEARTBEAT = 0x03, GOODBYE = 0x04, ERROR = 0x05;
    public static final int FOLLOW = 0x08, INVOKERS = 0x09;
    public static final int ACTIVATE = 0x10, ANSWER = 0x11, COMPLETED = 0x13, INVENTORY = 0x14;
    public static final int CAPACITY = 0x20, DISPATCH = 0x21, RESULT = 0x22, COMPLETION = 0x23;
    public static final int SUBSCRIBE = 0x30, UNSUBSCRIBE = 0x31, PUBLISH = 0x32;

    /** ERROR codes (§7). */
    public static final int ERROR_NOT_REGISTERED = 7;

    /** Answer kinds (§6.2, §9.2). */
    public static final String[] ANSWER_KINDS = {
        "success", "applicationError", "systemError", "timeout", "invokerLost", "overloaded", "throttled", "expired", "rejected", "brokerLost",
    };

    /** The name of answer kind {@code kind}, or "kind N" for one this client does not know (a failure, §6.2). */
    public static String kindName(int kind) {
        return kind >= 0 && kind < ANSWER_KINDS.length ? ANSWER_KINDS[kind] : "kind " + kind;
    }

    /** Whether {@code id} is a SLU/1 id: 1..128 of [A-Za-z0-9._-] (§3.2). */
    public static boolean isValidId(String id) {
        if (id == null || id.isEmpty() || id.length() > 128) return false;
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
            if (!ok) return false;
        }
        return true;
    }

    /** Writes one body frame. */
    public static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(64);

        public Writer u8(int value) { out.write(value & 0xFF); return this; }
        public Writer u16(int value) { out.write((value >>> 8) & 0xFF); out.write(value & 0xFF); return this; }
        public Writer u32(long value) {
            for (int shift = 24; shift >= 0; shift -= 8) out.write((int) (value >>> shift) & 0xFF);
            return this;
        }
        public Writer shortString(String value) { return string(value, 255); }
        public Writer longString(String value) { return string(value, 65535); }

        /** A u8- (at most 255 bytes) or u16-prefixed (at most 65535) UTF-8 string. */
        private Writer string(String value, int maxBytes) {
            byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
            if (bytes.length > maxBytes) throw new IllegalArgumentException("string of " + bytes.length + " bytes; this field holds at most " + maxBytes);
            if (maxBytes == 255) u8(bytes.length); else u16(bytes.length);
            out.write(bytes, 0, bytes.length);
            return this;
        }
        public byte[] bytes() { return out.toByteArray(); }
    }

    /** Reads one body frame; every read past its end throws {@link ProtocolException}. */
    public static final class Reader {
        private final byte[] frame;
        private int at;

        public Reader(byte[] frame) { this.frame = frame; }

        private void need(int count, String field) {
            if (frame.length - at < count) throw new ProtocolException(field + ": the frame ends early");
        }
        public int u8(String field) { need(1, field); return frame[at++] & 0xFF; }
        public int u16(String field) { need(2, field); int v = ((frame[at] & 0xFF) << 8) | (frame[at + 1] & 0xFF); at += 2; return v; }
        public long u32(String field) {
            need(4, field);
            long v = 0;
            for (int i = 0; i < 4; i++) v = (v << 8) | (frame[at++] & 0xFF);
            return v;
        }
        public long u64(String field) {
            need(8, field);
            long v = 0;
            for (int i = 0; i < 8; i++) v = (v << 8) | (frame[at++] & 0xFF);
            return v;
        }
        public String shortString(String field) { int n = u8(field); need(n, field); String s = new String(frame, at, n, StandardCharsets.UTF_8); at += n; return s; }
        public String longString(String field) { int n = u16(field); need(n, field); String s = new String(frame, at, n, StandardCharsets.UTF_8); at += n; return s; }
        public List<String> names(String field) {
            int count = u8(field);
            List<String> names = new ArrayList<>(count);
            for (int i = 0; i < count; i++) names.add(shortString(field));
            return names;
        }
        public void end(String what) {
            if (at != frame.length) throw new ProtocolException(what + ": " + (frame.length - at) + " bytes left over");
        }
    }

    /** A message this client cannot decode. */
    public static final class ProtocolException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public ProtocolException(String message) { super(message); }
    }
}
