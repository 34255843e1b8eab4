#!/usr/bin/env bash
# Regenerates the synthetic clips embedded in `vigil publish`. They are committed, so this is only
# needed to change them. Each clip is 4 s at 30 fps with a keyframe every 2 s and no B-frames; H.264
# repeats SPS/PPS before every IDR so any keyframe can start a stream.
set -euo pipefail
cd "$(dirname "$0")"
video() { # profile size bitrate
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=$2:rate=30" -t 4 -pix_fmt yuv420p \
    -c:v libx264 -profile:v baseline -preset veryfast -b:v "$3" -minrate "$3" -maxrate "$3" -bufsize "$3" \
    -x264-params repeat-headers=1:keyint=60:min-keyint=60:scenecut=0:nal-hrd=cbr:filler=1 \
    -bsf:v h264_mp4toannexb -f h264 "$1-h264.h264"
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=$2:rate=30" -t 4 -pix_fmt yuv420p \
    -c:v libvpx -deadline realtime -cpu-used 4 -b:v "$3" -minrate "$3" -maxrate "$3" -g 60 -keyint_min 60 \
    -auto-alt-ref 0 -lag-in-frames 0 -f ivf "$1-vp8.ivf"
}
video 240p 320x240 500k
video 1080p 1920x1080 2500k
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30 -t 4 -pix_fmt yuv420p \
  -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 1 -b:v 500k -minrate 500k -maxrate 500k \
  -g 60 -keyint_min 60 -auto-alt-ref 0 -lag-in-frames 0 -f ivf 240p-vp9.ivf
ffmpeg -v error -y -f lavfi -i sine=frequency=440:sample_rate=48000 -t 4 -c:a libopus -b:a 48k \
  -frame_duration 20 -page_duration 20000 -f ogg audio-opus.ogg
