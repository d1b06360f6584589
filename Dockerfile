# One image for both programs: `heimdall server` and `heimdall agent` (the agent runs
# privileged, see deploy/). Build: docker build -t heimdall:0.1.0 .
#
# The probe is CO-RE: vmlinux.h comes from the build machine's BTF and the compiled object
# runs on any kernel >= 5.11 with BTF. Set VMLINUX_FROM to a path inside the build context
# to use a saved vmlinux.h instead (for builders whose /sys has no BTF).
FROM node:24-bookworm AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make gcc \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Not `npm ci`: see scripts/setup.sh (chdb's optional per-platform packages).
RUN npm install --no-audit --no-fund --loglevel=error
COPY . .
ARG VMLINUX_FROM=
RUN if [ -n "$VMLINUX_FROM" ]; then cp "$VMLINUX_FROM" src/kernel/vmlinux.h; \
    else bpftool btf dump file /sys/kernel/btf/vmlinux format c > src/kernel/vmlinux.h; fi \
 && make -C src/kernel \
 && node node_modules/vite/bin/vite.js build ui \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM node:24-bookworm-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libbpf1 libelf1 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/src ./src
COPY --from=build /app/proto ./proto
COPY --from=build /app/build/heimdall-pump ./build/heimdall-pump
COPY --from=build /app/ui/dist ./ui/dist
ENV HEIMDALL_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 50051
ENTRYPOINT ["/app/bin/heimdall"]
CMD ["server"]
