package org.typocorrector;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The host test of the Java binding (tests/test_corrector_cpp.py): corrects a text through
 * Java and prints what it got, one "key<TAB>value" line each, for the test to compare with
 * the Python pipeline. Args: META.json WORDS INPUT RAW_OUTPUT.
 */
public final class Demo {
    public static void main(String[] args) {
        try (TypoCorrector tc = new TypoCorrector(args[0], args[1])) {
            String input = args[2], raw = args[3];
            int[] answer = tc.encode(raw);
            int[] generated = Arrays.copyOf(answer, answer.length + 1);
            generated[answer.length] = tc.stopIds()[0];  // the model stops: the rest is cut
            print("prompt_ids", Arrays.toString(tc.promptIds(input)));
            print("guarded", tc.guard(input, raw));
            print("finished", tc.finish(input, generated));
            try {
                new TypoCorrector(args[0] + ".missing", args[1]);
                print("missing", "no error");
            } catch (TypoCorrectorException e) {
                print("missing", e.code() + " " + e.getMessage());
            }
        }
    }

    private static void print(String key, String value) {
        // escape newlines so one value stays on one line
        String v = value.replace("\\", "\\\\").replace("\n", "\\n");
        System.out.write((key + "\t" + v + "\n").getBytes(StandardCharsets.UTF_8), 0,
                         (key + "\t" + v + "\n").getBytes(StandardCharsets.UTF_8).length);
        System.out.flush();
    }
}
