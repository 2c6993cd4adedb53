{
  "targets": [
    {
      "target_name": "waydesk_codec",
      "sources": [
        "src/codec.c",
        "src/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I libavcodec libavutil libzstd | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs libavcodec libavutil libzstd)",
        "-lyuv"
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
      ]
    }
  ]
}