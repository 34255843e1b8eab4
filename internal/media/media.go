// Package media is the leaf vocabulary shared by the whole pipeline: codecs, the packets that flow
// through the hub, and the per-packet inspection (keyframe starts, picture size) that ingest does
// once so that no subscriber has to. It imports nothing from internal/.
package media
