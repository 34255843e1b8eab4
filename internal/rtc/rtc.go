// Package rtc holds the pion setup shared by every WebRTC session of the server: the codecs and
// interceptors, the single UDP port that carries all media (ICE UDP mux) with its enlarged kernel
// receive buffer, NAT 1:1 addresses, and the adapter that sends pion's logs to slog. It also builds
// the lighter client-side API used by `vigil publish` and by pulls.
package rtc
