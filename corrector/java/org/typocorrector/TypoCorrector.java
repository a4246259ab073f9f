package org.typocorrector;

import java.nio.charset.StandardCharsets;

/**
 * The on-device typo corrector's text side for Java and Kotlin apps: prompt ids for the
 * model, then the model's ids back to guarded text (over the C API, typo_corrector.h).
 *
 * <pre>
 * try (TypoCorrector tc = new TypoCorrector(metaJsonPath, englishWordsPath)) {
 *     int[] prompt = tc.promptIds(text);          // run the .pte on these (ExecuTorch Module)
 *     String fixed = tc.finish(text, generated);  // decode + guard: never a paraphrase
 * }
 * </pre>
 * With a dictionary ({@link #TypoCorrector(String, String, String, String)}), {@link #dictionaryPass}
 * runs evaluation/dictpass.py's pass on the model's raw answer, its candidates scored by the app's
 * model through a {@link Scorer}.
 * Errors are {@link TypoCorrectorException}s carrying the C API's status code. Thread-safe:
 * every call only reads the corrector.
 */
public final class TypoCorrector implements AutoCloseable {
    static {
        String lib = System.getProperty("typocorrector.library");
        if (lib != null) System.load(lib); else System.loadLibrary("typo_corrector_jni");
    }

    /** The model's teacher-forced log-probs: for each continuation after the shared prefix, the
     *  summed log-probability of its tokens. */
    public interface Scorer {
        double[] score(int[] prefix, int[][] continuations);
    }

    private long handle;

    public TypoCorrector(String metadataJson, String englishWords) {
        handle = nativeOpen(utf8(metadataJson), utf8(englishWords));
    }

    /** With the dictionary pass: SymSpell's frequency list, and a Mitton .dat misspelling list or null. */
    public TypoCorrector(String metadataJson, String englishWords, String dictionary, String misspellings) {
        this(metadataJson, englishWords, dictionary, misspellings, null);
    }

    /** ... and what the model scores the answers against: "typed", "masked" or "both" (null = the default). */
    public TypoCorrector(String metadataJson, String englishWords, String dictionary, String misspellings,
                         String context) {
        handle = nativeOpenDictionary(utf8(metadataJson), utf8(englishWords), utf8(dictionary),
                                      misspellings == null ? null : utf8(misspellings),
                                      context == null ? null : utf8(context));
    }

    /** The model's raw answer -> guarded, dictionary-corrected text; maxLen: the model's context. */
    public String dictionaryPass(String input, String rawOutput, Scorer scorer, int maxLen) {
        if (scorer == null) throw new NullPointerException("scorer must not be null");
        return text(nativeDictionaryPass(live(), utf8(input), utf8(rawOutput), scorer, maxLen));
    }

    public int[] promptIds(String text) { return nativePromptIds(live(), utf8(text)); }
    public int[] stopIds() { return nativeStopIds(live()); }
    public int[] encode(String text) { return nativeEncode(live(), utf8(text)); }
    public String decode(int[] ids) { return text(nativeDecode(live(), ids)); }
    /** The guard alone: the model's raw text -> the guarded text. */
    public String guard(String input, String rawOutput) { return text(nativeGuard(live(), utf8(input), utf8(rawOutput))); }
    /** Generated ids (cut at the first stop id) -> decoded answer -> guarded text. */
    public String finish(String input, int[] generated) { return text(nativeFinish(live(), utf8(input), generated)); }

    @Override
    public synchronized void close() {
        if (handle != 0) { nativeClose(handle); handle = 0; }
    }

    private long live() {
        if (handle == 0) throw new IllegalStateException("TypoCorrector is closed");
        return handle;
    }

    // Strings cross as UTF-8 bytes: JNI's own string functions speak "modified UTF-8".
    private static byte[] utf8(String s) {
        if (s == null) throw new NullPointerException("text must not be null");
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(byte[] b) { return new String(b, StandardCharsets.UTF_8); }

    private static native long nativeOpen(byte[] meta, byte[] words);
    private static native long nativeOpenDictionary(byte[] meta, byte[] words, byte[] dict, byte[] missp,
                                                    byte[] context);
    private static native byte[] nativeDictionaryPass(long h, byte[] input, byte[] raw, Scorer scorer, int maxLen);
    private static native void nativeClose(long h);
    private static native int[] nativePromptIds(long h, byte[] text);
    private static native int[] nativeStopIds(long h);
    private static native int[] nativeEncode(long h, byte[] text);
    private static native byte[] nativeDecode(long h, int[] ids);
    private static native byte[] nativeGuard(long h, byte[] input, byte[] raw);
    private static native byte[] nativeFinish(long h, byte[] input, int[] generated);
}
