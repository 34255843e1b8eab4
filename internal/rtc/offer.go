package rtc

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/vigilrec/vigil/internal/media"
)

// Errors about an SDP offer, reported before any peer connection is built.
var (
	// ErrMalformedSDP means the offer does not parse as SDP.
	ErrMalformedSDP = errors.New("malformed SDP offer")
	// ErrNoSupportedCodec means no media section of the offer carries a codec vigil handles.
	ErrNoSupportedCodec = errors.New("no supported codec in offer")
)

// OfferMedia is one audio or video section of an offer.
type OfferMedia struct {
	Kind media.Kind
	// Codecs are the supported codecs offered, in the offer's order.
	Codecs []media.Codec
}

// Offer is what vigil needs to know about an SDP offer before negotiating it.
type Offer struct {
	Media []OfferMedia
}

// Supports reports whether some section of kind offers codec c.
func (o Offer) Supports(kind media.Kind, c media.Codec) bool {
	for _, m := range o.Media {
		if m.Kind != kind {
			continue
		}
		if slices.Contains(m.Codecs, c) {
			return true
		}
	}
	return false
}

// InspectOffer parses an offer and lists its supported codecs per section. It fails with
// ErrMalformedSDP or ErrNoSupportedCodec, wrapped with the detail.
func InspectOffer(offer string) (Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return Offer{}, fmt.Errorf("%w: %v", ErrMalformedSDP, err) //nolint:errorlint // the parse error is detail, not a cause to match
	}
	var out Offer
	var seen []string
	for _, md := range sd.MediaDescriptions {
		kind := media.Kind(md.MediaName.Media)
		if kind != media.KindAudio && kind != media.KindVideo {
			continue
		}
		om := OfferMedia{Kind: kind}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			// "96 VP8/90000"
			_, enc, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(enc, "/")
			seen = append(seen, name)
			if c, ok := media.CodecFromName(name); ok && c.Kind() == kind && !slices.Contains(om.Codecs, c) {
				om.Codecs = append(om.Codecs, c)
			}
		}
		if len(om.Codecs) > 0 {
			out.Media = append(out.Media, om)
		}
	}
	if len(sd.MediaDescriptions) == 0 {
		return Offer{}, fmt.Errorf("%w: the offer has no media sections", ErrMalformedSDP)
	}
	if len(out.Media) == 0 {
		return Offer{}, fmt.Errorf("%w: offered %s; vigil accepts H264, H265, VP8, VP9, AV1 and opus",
			ErrNoSupportedCodec, strings.Join(seen, ", "))
	}
	return out, nil
}
