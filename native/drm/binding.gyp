{
  "targets": [
    {
      "target_name": "waydesk_drm",
      "sources": [
        "src/drm_output.c",
        "src/evdev.c",
        "src/seat.c",
        "src/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I libdrm libseat | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs libdrm libseat)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags": [
        "-Wall",
        "-Wno-unused-parameter",
        "-O2"
      ],
      "cflags_c": [
        "-std=gnu11"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-fexceptions",
        "-O2"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-std=gnu++14",
        "-std=gnu++17"
      ]
    }
  ]
}
