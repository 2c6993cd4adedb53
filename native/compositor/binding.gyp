{
  "targets": [
    {
      "target_name": "waydesk_compositor",
      "sources": [
        "src/core.c",
        "src/xwayland.c",
        "src/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "shim",
        "<(module_root_dir)/gen",
        "<!@(pkg-config --cflags-only-I wlroots wayland-server xkbcommon pixman-1 libdrm xcb | sed 's/-I//g')"
      ],
      "cflags_c": [
        "-std=c11"
      ],
      "libraries": [
        "<!@(pkg-config --libs wlroots wayland-server xkbcommon pixman-1 xcb)"
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