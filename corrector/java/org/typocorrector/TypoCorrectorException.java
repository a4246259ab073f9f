package org.typocorrector;

/** An error from the corrector: the C API's status code (typo_corrector.h) and its message. */
public final class TypoCorrectorException extends RuntimeException {
    private final int code;

    public TypoCorrectorException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** TC_ERR_ARGUMENT 1, TC_ERR_IO 2, TC_ERR_FORMAT 3, TC_ERR_UTF8 4, TC_ERR_GENERATE 5, TC_ERR_INTERNAL 6. */
    public int code() { return code; }
}
