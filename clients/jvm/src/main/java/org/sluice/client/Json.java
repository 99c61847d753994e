package org.sluice.client;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader (RFC 8259) for the few fields the connector reads of OpenWhisk's
 * messages, and string quoting for the ones it writes. Objects become {@code Map<String,Object>},
 * arrays {@code List<Object>}, numbers {@code Long} (integers) or {@code Double}, and null
 * {@link #NULL}. Messages pass through the connector unchanged; this only reads them.
 */
public final class Json {
    /** JSON null. */
    public static final Object NULL = new Object() {
        @Override public String toString() { return "null"; }
    };

    private final String text;
    private int at;

    private Json(String text) { this.text = text; }

    /** Parses {@code text}; throws {@link IllegalArgumentException} naming the position on bad input. */
    public static Object parse(String text) {
        Json parser = new Json(text);
        parser.space();
        Object value = parser.value(0);
        parser.space();
        if (parser.at != text.length()) throw parser.fail("unexpected text after the value");
        return value;
    }

    private IllegalArgumentException fail(String problem) {
        return new IllegalArgumentException("not JSON: " + problem + " at offset " + at);
    }

    private void space() {
        while (at < text.length()) {
            char c = text.charAt(at);
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') at++;
            else break;
        }
    }

    private Object value(int depth) {
        if (depth > 512) throw fail("nested too deeply");
        if (at >= text.length()) throw fail("unexpected end");
        char c = text.charAt(at);
        switch (c) {
            case '{': return object(depth);
            case '[': return array(depth);
            case '"': return string();
            case 't': return literal("true", Boolean.TRUE);
            case 'f': return literal("false", Boolean.FALSE);
            case 'n': return literal("null", NULL);
            default: return number();
        }
    }

    private Object literal(String word, Object value) {
        if (!text.startsWith(word, at)) throw fail("expected " + word);
        at += word.length();
        return value;
    }

    private Map<String, Object> object(int depth) {
        Map<String, Object> fields = new LinkedHashMap<>();
        at++;
        space();
        if (at < text.length() && text.charAt(at) == '}') { at++; return fields; }
        while (true) {
            space();
            if (at >= text.length() || text.charAt(at) != '"') throw fail("expected a field name");
            String key = string();
            space();
            if (at >= text.length() || text.charAt(at) != ':') throw fail("expected ':'");
            at++;
            space();
            fields.put(key, value(depth + 1));
            space();
            if (at >= text.length()) throw fail("unexpected end in an object");
            char c = text.charAt(at++);
            if (c == '}') return fields;
            if (c != ',') throw fail("expected ',' or '}'");
        }
    }

    private List<Object> array(int depth) {
        List<Object> values = new ArrayList<>();
        at++;
        space();
        if (at < text.length() && text.charAt(at) == ']') { at++; return values; }
        while (true) {
            space();
            values.add(value(depth + 1));
            space();
            if (at >= text.length()) throw fail("unexpected end in an array");
            char c = text.charAt(at++);
            if (c == ']') return values;
            if (c != ',') throw fail("expected ',' or ']'");
        }
    }

    private String string() {
        StringBuilder out = new StringBuilder();
        at++;
        while (true) {
            if (at >= text.length()) throw fail("unterminated string");
            char c = text.charAt(at++);
            if (c == '"') return out.toString();
            if (c < 0x20) throw fail("control character in a string");
            if (c != '\\') { out.append(c); continue; }
            if (at >= text.length()) throw fail("unterminated escape");
            char e = text.charAt(at++);
            switch (e) {
                case '"': out.append('"'); break;
                case '\\': out.append('\\'); break;
                case '/': out.append('/'); break;
                case 'b': out.append('\b'); break;
                case 'f': out.append('\f'); break;
                case 'n': out.append('\n'); break;
                case 'r': out.append('\r'); break;
                case 't': out.append('\t'); break;
                case 'u':
                    if (at + 4 > text.length()) throw fail("short \\u escape");
                    try {
                        out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                    } catch (NumberFormatException ex) {
                        throw fail("bad \\u escape");
                    }
                    at += 4;
                    break;
                default: throw fail("bad escape \\" + e);
            }
        }
    }

    private Object number() {
        int start = at;
        if (at < text.length() && text.charAt(at) == '-') at++;
        while (at < text.length() && "0123456789.eE+-".indexOf(text.charAt(at)) >= 0) at++;
        String literal = text.substring(start, at);
        if (literal.isEmpty() || literal.equals("-")) throw fail("expected a value");
        try {
            if (literal.indexOf('.') < 0 && literal.indexOf('e') < 0 && literal.indexOf('E') < 0) return Long.parseLong(literal);
            return Double.parseDouble(literal);
        } catch (NumberFormatException e) {
            throw fail("bad number " + literal);
        }
    }

    /** {@code value} as a JSON string literal. */
    public static String quote(String value) {
        StringBuilder out = new StringBuilder(value.length() + 2).append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
            }
        }
        return out.append('"').toString();
    }
}
