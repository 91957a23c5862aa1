# The native half of ofswitch's Linux ports (native/ofnet.c): AF_PACKET rings, TAP devices,
# raw IP sockets (GRE), link state. Built by `npm install` / `npm ci` (package.json "install"); optional: without it
# the switch runs with dummy, patch and UDP tunnel ports.
{
  "targets": [
    {
      "target_name": "ofnet",
      "sources": ["native/ofnet.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
