{
  "targets": [
    {
      "target_name": "waydesk_pam",
      "sources": [
        "src/pam_session.c",
        "src/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "libraries": [
        "-lpam"
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
    },
    {
      "target_name": "waydesk-pam-session",
      "type": "executable",
      "sources": [
        "src/session_keeper.c"
      ],
      "libraries": [
        "-lpam"
      ],
      "cflags": [
        "-Wall",
        "-Wno-unused-parameter",
        "-O2"
      ],
      "cflags_c": [
        "-std=gnu11"
      ]
    }
  ]
}
