{
  "targets": [
    {
      "target_name": "waydesk_compositor",
      "sources": [
        "compositor/src/core.c",
        "compositor/src/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "compositor/shim",
        "<(module_root_dir)/gen",
        "<!@(pkg-config --cflags-only-I wlroots wayland-server xkbcommon pixman-1 libdrm | sed 's/-I//g')"
      ],
      "defines": [
        "WLR_USE_UNSTABLE",
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags": [
        "-Wall",
        "-Wno-unused-parameter",
        "-O2"
      ],
      "cflags_c": [
        "-std=c11"
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
      ],
      "libraries": [
        "<!@(pkg-config --libs wlroots wayland-server xkbcommon pixman-1)"
      ]
    },
    {
      "target_name": "waydesk_codec",
      "sources": [
        "codec/src/codec.c",
        "codec/src/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I libavcodec libavutil libzstd | sed 's/-I//g')"
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
      ],
      "libraries": [
        "<!@(pkg-config --libs libavcodec libavutil libzstd)",
        "-lyuv"
      ]
    }
  ]
}
