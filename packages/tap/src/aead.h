// AES-256-GCM and AES-256-ECB with keys prepared once (aead.cc).
#pragma once

#include <node_api.h>

namespace peertap {

// Adds gcmKey, gcmSeal, gcmOpen, ecbKey and ecbEncrypt to `exports`.
bool RegisterAead(napi_env env, napi_value exports);

}  // namespace peertap
