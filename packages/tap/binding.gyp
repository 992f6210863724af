{
  "targets": [
    {
      "target_name": "peertap_tap",
      "sources": ["src/addon.cc", "src/aead.cc", "src/aes-ni.cc", "src/cipher.cc", "src/flow-cache.cc", "src/flow-core.cc", "src/flow-napi.cc", "src/poller.cc", "src/reader.cc", "src/tun.cc", "src/udp.cc"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
