{
  "targets": [
    {
      "target_name": "waydesk_codec",
      "sources": [
        "src/h264_decoder.c",
        "src/tiles.c",
        "src/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I openh264 libzstd | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs openh264 libzstd)",
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
    },
    {
      "target_name": "waydesk_h264enc",
      "sources": [
        "src/h264_encoder.c",
        "src/encoder_addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I libavcodec libavutil | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs libavcodec libavutil)",
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
