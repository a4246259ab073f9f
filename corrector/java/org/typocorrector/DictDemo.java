package org.typocorrector;

import java.nio.charset.StandardCharsets;

/**
 * The host test of the Java dictionary pass (tests/test_dictpass_cpp.py). Args: META.json WORDS
 * DICTIONARY MISSPELLINGS|- INPUT RAW_OUTPUT [CONTEXT]. The scorer is a fixed formula the test repeats in
 * Python (-tokens - 0.01 x the sum of id % 7 per continuation), so the pass's plumbing through
 * JNI is checked against evaluation/dictpass.py without a model in Java. Prints the output.
 */
public final class DictDemo {
    public static void main(String[] args) {
        String missp = args[3].equals("-") ? null : args[3];
        String context = args.length > 6 ? args[6] : null;
        try (TypoCorrector tc = new TypoCorrector(args[0], args[1], args[2], missp, context)) {
            TypoCorrector.Scorer scorer = (prefix, conts) -> {
                double[] out = new double[conts.length];
                for (int k = 0; k < conts.length; ++k) {
                    long mod = 0;
                    for (int id : conts[k]) mod += id % 7;
                    out[k] = -(double) conts[k].length - 0.01 * (double) mod;
                }
                return out;
            };
            byte[] b = (tc.dictionaryPass(args[4], args[5], scorer, 4096) + "\n").getBytes(StandardCharsets.UTF_8);
            System.out.write(b, 0, b.length);
            System.out.flush();
        }
    }
}
