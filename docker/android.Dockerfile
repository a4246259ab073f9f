# Cross-compiles android_runner/typo_runner for Android arm64-v8a against an ExecuTorch
# source build with XNNPACK and the quantized kernels (`make android-runner`, needs Docker).
# The ExecuTorch tag MUST match the executorch wheel pinned in requirements.txt, so the
# phone's runtime reads the .pte files that wheel exports (tests/test_runner.py checks it).
#
#   docker build -f docker/android.Dockerfile -t typo-corrector-android .
#   -> /out/typo_runner in the image (make android-runner copies it to
#      android_runner/build/android-arm64/typo_runner for device_bench to push)
FROM ubuntu:22.04

ARG EXECUTORCH_TAG=v1.5.1
ARG NDK_VERSION=r27c
ARG ANDROID_ABI=arm64-v8a
ARG ANDROID_PLATFORM=android-28

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential ca-certificates cmake curl git ninja-build python3 python3-pip python3-venv unzip \
    && rm -rf /var/lib/apt/lists/*
# cmake >= 3.24 for the ExecuTorch build (22.04 ships 3.22)
RUN python3 -m pip install --no-cache-dir "cmake==3.31.6" pyyaml

RUN curl -fsSL -o /tmp/ndk.zip https://dl.google.com/android/repository/android-ndk-${NDK_VERSION}-linux.zip \
    && unzip -q /tmp/ndk.zip -d /opt && rm /tmp/ndk.zip
ENV ANDROID_NDK=/opt/android-ndk-${NDK_VERSION}

RUN git clone --depth 1 --branch ${EXECUTORCH_TAG} https://github.com/pytorch/executorch.git /src/executorch \
    && cd /src/executorch && git submodule update --init --recursive --depth 1

# The runtime, Module/tensor/data-loader extensions, threadpool, optimized + quantized
# kernels, the LLM custom ops (llama::custom_sdpa and llama::update_cache, which the
# xnnpack-*-sdpa recipes call: EXECUTORCH_BUILD_KERNELS_LLM) and the XNNPACK delegate, as static
# libraries installed under /opt/et. (The LLM kernels flag is not yet built in CI here: this
# machine has no internet for the NDK.)
RUN cmake -S /src/executorch -B /build/et -G Ninja \
      -DCMAKE_TOOLCHAIN_FILE=${ANDROID_NDK}/build/cmake/android.toolchain.cmake \
      -DANDROID_ABI=${ANDROID_ABI} -DANDROID_PLATFORM=${ANDROID_PLATFORM} \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/opt/et \
      -DEXECUTORCH_BUILD_XNNPACK=ON -DEXECUTORCH_BUILD_KERNELS_OPTIMIZED=ON \
      -DEXECUTORCH_BUILD_KERNELS_QUANTIZED=ON -DEXECUTORCH_BUILD_KERNELS_LLM=ON \
      -DEXECUTORCH_BUILD_EXTENSION_MODULE=ON \
      -DEXECUTORCH_BUILD_EXTENSION_DATA_LOADER=ON -DEXECUTORCH_BUILD_EXTENSION_TENSOR=ON \
      -DEXECUTORCH_BUILD_EXTENSION_FLAT_TENSOR=ON -DEXECUTORCH_BUILD_EXTENSION_NAMED_DATA_MAP=ON \
      -DEXECUTORCH_BUILD_CPUINFO=ON -DEXECUTORCH_BUILD_PTHREADPOOL=ON \
      -DEXECUTORCH_ENABLE_LOGGING=ON \
    && cmake --build /build/et -j"$(nproc)" --target install

# The same sources as the host build, linked statically (ET_SOURCE_BUILD=ON). CMakeLists.txt reads
# the copy-speculation defaults from ../core/decoding_defaults.json, hence the same layout here.
COPY android_runner/CMakeLists.txt /src/android_runner/CMakeLists.txt
# the runner's text mode links the corrector library (add_subdirectory ../corrector)
COPY corrector /src/corrector
COPY android_runner/src /src/android_runner/src
COPY core/decoding_defaults.json /src/core/decoding_defaults.json
RUN cmake -S /src/android_runner -B /build/runner -G Ninja \
      -DCMAKE_TOOLCHAIN_FILE=${ANDROID_NDK}/build/cmake/android.toolchain.cmake \
      -DANDROID_ABI=${ANDROID_ABI} -DANDROID_PLATFORM=${ANDROID_PLATFORM} -DANDROID_STL=c++_static \
      -DCMAKE_BUILD_TYPE=Release -DET_SOURCE_BUILD=ON -DEXECUTORCH_ROOT=/opt/et \
    && cmake --build /build/runner -j"$(nproc)" \
    && mkdir -p /out && cp /build/runner/typo_runner /out/typo_runner \
    && ${ANDROID_NDK}/toolchains/llvm/prebuilt/linux-x86_64/bin/llvm-strip /out/typo_runner

# The corrector library for apps (corrector/, issue 27): the JNI binding and the C API as shared
# libraries for the same ABI, plus the Java sources and the C header, in /out/corrector/.
RUN cmake -S /src/corrector -B /build/corrector -G Ninja \
      -DCMAKE_TOOLCHAIN_FILE=${ANDROID_NDK}/build/cmake/android.toolchain.cmake \
      -DANDROID_ABI=${ANDROID_ABI} -DANDROID_PLATFORM=${ANDROID_PLATFORM} -DANDROID_STL=c++_static \
      -DCMAKE_BUILD_TYPE=Release \
    && cmake --build /build/corrector -j"$(nproc)" --target typo_corrector_jni typo_corrector_shared \
    && mkdir -p /out/corrector/${ANDROID_ABI} \
    && cp /build/corrector/libtypo_corrector_jni.so /build/corrector/libtypo_corrector_c.so \
          /out/corrector/${ANDROID_ABI}/ \
    && cp -r /src/corrector/java /src/corrector/include /out/corrector/
