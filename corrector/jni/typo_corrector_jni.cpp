// JNI binding of the C API for org.typocorrector.TypoCorrector. Strings arrive and leave as
// UTF-8 byte arrays; a C API error becomes a TypoCorrectorException(code, message).
#include <jni.h>

#include <string>
#include <vector>

#include "typo_corrector.h"

namespace {

std::string bytes(JNIEnv* env, jbyteArray a) {
    if (!a) return {};
    jsize n = env->GetArrayLength(a);
    std::string s(size_t(n), '\0');
    env->GetByteArrayRegion(a, 0, n, reinterpret_cast<jbyte*>(&s[0]));
    return s;
}

std::vector<int32_t> ints(JNIEnv* env, jintArray a) {
    std::vector<int32_t> v;
    if (!a) return v;
    v.resize(size_t(env->GetArrayLength(a)));
    env->GetIntArrayRegion(a, 0, jsize(v.size()), reinterpret_cast<jint*>(v.data()));
    return v;
}

// Throws the Java exception for a failed call; returns true when the call succeeded.
bool ok(JNIEnv* env, tc_status st, char* err) {
    if (st == TC_OK) return true;
    std::string msg = err ? err : tc_status_name(st);
    tc_free(err);
    jclass cls = env->FindClass("org/typocorrector/TypoCorrectorException");
    if (!cls) return false;  // NoClassDefFoundError is pending
    jmethodID ctor = env->GetMethodID(cls, "<init>", "(ILjava/lang/String;)V");
    jstring jmsg = env->NewStringUTF(msg.c_str());  // messages are ASCII plus the caller's paths
    auto ex = static_cast<jthrowable>(env->NewObject(cls, ctor, jint(st), jmsg));
    if (ex) env->Throw(ex);
    return false;
}

jbyteArray to_java(JNIEnv* env, char* s) {
    std::string v = s ? s : "";
    tc_free(s);
    jbyteArray a = env->NewByteArray(jsize(v.size()));
    if (a) env->SetByteArrayRegion(a, 0, jsize(v.size()), reinterpret_cast<const jbyte*>(v.data()));
    return a;
}

jintArray to_java(JNIEnv* env, int32_t* ids, size_t n) {
    jintArray a = env->NewIntArray(jsize(n));
    if (a) env->SetIntArrayRegion(a, 0, jsize(n), reinterpret_cast<const jint*>(ids));
    tc_free(ids);
    return a;
}

const tc_corrector* H(jlong h) { return reinterpret_cast<const tc_corrector*>(h); }

}  // namespace

#define JNI_FN(ret, name) extern "C" JNIEXPORT ret JNICALL Java_org_typocorrector_TypoCorrector_##name

JNI_FN(jlong, nativeOpen)(JNIEnv* env, jclass, jbyteArray meta, jbyteArray words) {
    tc_corrector* c = nullptr;
    char* err = nullptr;
    std::string m = bytes(env, meta), w = bytes(env, words);
    tc_status st = tc_open(m.c_str(), w.c_str(), &c, &err);
    if (!ok(env, st, err)) return 0;
    return reinterpret_cast<jlong>(c);
}

JNI_FN(void, nativeClose)(JNIEnv*, jclass, jlong h) { tc_close(reinterpret_cast<tc_corrector*>(h)); }

JNI_FN(jintArray, nativePromptIds)(JNIEnv* env, jclass, jlong h, jbyteArray text) {
    int32_t* ids = nullptr; size_t n = 0; char* err = nullptr;
    std::string t = bytes(env, text);
    tc_status st = tc_prompt_ids(H(h), t.c_str(), &ids, &n, &err);
    if (!ok(env, st, err)) return nullptr;
    return to_java(env, ids, n);
}

JNI_FN(jintArray, nativeStopIds)(JNIEnv* env, jclass, jlong h) {
    int32_t* ids = nullptr; size_t n = 0; char* err = nullptr;
    tc_status st = tc_stop_ids(H(h), &ids, &n, &err);
    if (!ok(env, st, err)) return nullptr;
    return to_java(env, ids, n);
}

JNI_FN(jintArray, nativeEncode)(JNIEnv* env, jclass, jlong h, jbyteArray text) {
    int32_t* ids = nullptr; size_t n = 0; char* err = nullptr;
    std::string t = bytes(env, text);
    tc_status st = tc_encode(H(h), t.c_str(), &ids, &n, &err);
    if (!ok(env, st, err)) return nullptr;
    return to_java(env, ids, n);
}

JNI_FN(jbyteArray, nativeDecode)(JNIEnv* env, jclass, jlong h, jintArray ids) {
    char* out = nullptr; char* err = nullptr;
    std::vector<int32_t> v = ints(env, ids);
    tc_status st = tc_decode(H(h), v.data(), v.size(), &out, &err);
    if (!ok(env, st, err)) return nullptr;
    return to_java(env, out);
}

JNI_FN(jbyteArray, nativeGuard)(JNIEnv* env, jclass, jlong h, jbyteArray input, jbyteArray raw) {
    char* out = nullptr; char* err = nullptr;
    std::string i = bytes(env, input), r = bytes(env, raw);
    tc_status st = tc_guard(H(h), i.c_str(), r.c_str(), &out, &err);
    if (!ok(env, st, err)) return nullptr;
    return to_java(env, out);
}

JNI_FN(jbyteArray, nativeFinish)(JNIEnv* env, jclass, jlong h, jbyteArray input, jintArray generated) {
    char* out = nullptr; char* err = nullptr;
    std::string i = bytes(env, input);
    std::vector<int32_t> g = ints(env, generated);
    tc_status st = tc_finish(H(h), i.c_str(), g.data(), g.size(), nullptr, &out, &err);
    if (!ok(env, st, err)) return nullptr;
    return to_java(env, out);
}

JNI_FN(jlong, nativeOpenDictionary)(JNIEnv* env, jclass, jbyteArray meta, jbyteArray words, jbyteArray dict,
                                    jbyteArray missp, jbyteArray context) {
    tc_corrector* c = nullptr;
    char* err = nullptr;
    std::string m = bytes(env, meta), w = bytes(env, words), d = bytes(env, dict), l = bytes(env, missp);
    std::string x = bytes(env, context);
    tc_dict_options opts;  // the defaults; the context when Java gave one
    tc_dict_options_init(&opts);
    if (context) opts.context = x.c_str();
    tc_status st = tc_open_with_dictionary(m.c_str(), w.c_str(), d.c_str(), missp ? l.c_str() : nullptr, &opts, &c, &err);
    if (!ok(env, st, err)) return 0;
    return reinterpret_cast<jlong>(c);
}

namespace {

// TypoCorrector.Scorer called from the pass: int[] prefix, int[][] continuations -> double[].
struct JavaScorer {
    JNIEnv* env;
    jobject scorer;
    jmethodID method;
};

int java_score(void* user, const int32_t* prefix, size_t np, const int32_t* const* conts, const size_t* lens, size_t n,
               double* scores) {
    auto* s = static_cast<JavaScorer*>(user);
    JNIEnv* env = s->env;
    jintArray jp = env->NewIntArray(jsize(np));
    jclass int_array = env->FindClass("[I");
    jobjectArray jc = (jp && int_array) ? env->NewObjectArray(jsize(n), int_array, nullptr) : nullptr;
    if (!jc) return 1;  // OutOfMemoryError is pending
    env->SetIntArrayRegion(jp, 0, jsize(np), reinterpret_cast<const jint*>(prefix));
    for (size_t k = 0; k < n; ++k) {
        jintArray a = env->NewIntArray(jsize(lens[k]));
        if (!a) return 1;
        env->SetIntArrayRegion(a, 0, jsize(lens[k]), reinterpret_cast<const jint*>(conts[k]));
        env->SetObjectArrayElement(jc, jsize(k), a);
        env->DeleteLocalRef(a);
    }
    auto got = static_cast<jdoubleArray>(env->CallObjectMethod(s->scorer, s->method, jp, jc));
    if (env->ExceptionCheck() || !got || size_t(env->GetArrayLength(got)) != n) return 1;
    env->GetDoubleArrayRegion(got, 0, jsize(n), scores);
    env->DeleteLocalRef(got);
    env->DeleteLocalRef(jc);
    env->DeleteLocalRef(jp);
    return 0;
}

}  // namespace

JNI_FN(jbyteArray, nativeDictionaryPass)(JNIEnv* env, jclass, jlong h, jbyteArray input, jbyteArray raw, jobject scorer,
                                         jint max_len) {
    jclass cls = env->GetObjectClass(scorer);
    jmethodID mid = env->GetMethodID(cls, "score", "([I[[I)[D");
    if (!mid) return nullptr;  // NoSuchMethodError is pending
    JavaScorer js{env, scorer, mid};
    char* out = nullptr; char* err = nullptr;
    std::string i = bytes(env, input), r = bytes(env, raw);
    tc_status st = tc_dictionary_pass(H(h), i.c_str(), r.c_str(), java_score, &js, size_t(max_len), &out, nullptr, &err);
    if (env->ExceptionCheck()) { tc_free(err); tc_free(out); return nullptr; }  // the scorer's own exception
    if (!ok(env, st, err)) return nullptr;
    return to_java(env, out);
}
