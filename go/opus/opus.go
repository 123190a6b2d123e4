// Package opus encodes a stream's 20 ms frames into Opus packets and decodes
// the packets a server sends, with libopus (through github.com/hraban/opus).
// Encoders and decoders hold their buffers: nothing is allocated per packet.
package opus

import (
	"fmt"

	libopus "github.com/hraban/opus"

	"github.com/modlisten/mod_listen/go/config"
)

// FrameMs is the duration of every packet the engine sends.
const FrameMs = 20

// maxPacket is the largest packet libopus writes for one frame (RFC 6716
// 3.2.1: 1275 bytes per frame); room for more is never used.
const maxPacket = 1275

// maxFrameMs is the longest packet a decoder accepts (RFC 6716 3.2.5: up to
// 120 ms of audio in one packet).
const maxFrameMs = 120

// fecLossPercent: with in-band FEC on, the encoder is told to expect this
// much loss; libopus adds no FEC data when it expects none.
const fecLossPercent = 10

var applications = map[string]libopus.Application{
	config.OpusVoIP:     libopus.AppVoIP,
	config.OpusAudio:    libopus.AppAudio,
	config.OpusLowDelay: libopus.AppRestrictedLowdelay,
}

// Encoder turns 20 ms of PCM (channels interleaved) into one packet.
type Encoder struct {
	enc     *libopus.Encoder
	samples int // per 20 ms, all channels
	packet  []byte
}

// NewEncoder makes the encoder of one stream. The options are validated by
// config; an error here is libopus refusing them.
func NewEncoder(rate, channels int, o config.Opus) (*Encoder, error) {
	app, ok := applications[o.Application]
	if !ok {
		return nil, fmt.Errorf("opus: unknown application %q", o.Application)
	}
	enc, err := libopus.NewEncoder(rate, channels, app)
	if err != nil {
		return nil, fmt.Errorf("opus: encoder at %d Hz, %d channels: %v", rate, channels, err)
	}
	loss := 0
	if o.FEC {
		loss = fecLossPercent
	}
	set := []struct {
		what string
		err  error
	}{
		{"bitrate", enc.SetBitrate(o.Bitrate)},
		{"complexity", enc.SetComplexity(o.Complexity)},
		{"fec", enc.SetInBandFEC(o.FEC)},
		{"packet loss", enc.SetPacketLossPerc(loss)},
		{"dtx", enc.SetDTX(o.DTX)},
	}
	for _, s := range set {
		if s.err != nil {
			return nil, fmt.Errorf("opus: setting %s: %v", s.what, s.err)
		}
	}
	return &Encoder{enc: enc, samples: rate / 1000 * FrameMs * channels, packet: make([]byte, maxPacket)}, nil
}

// Encode returns the packet for one 20 ms frame; it is valid until the next
// call.
func (e *Encoder) Encode(pcm []int16) ([]byte, error) {
	if len(pcm) != e.samples {
		return nil, fmt.Errorf("opus: a frame is %d samples, got %d", e.samples, len(pcm))
	}
	n, err := e.enc.Encode(pcm, e.packet)
	if err != nil {
		return nil, fmt.Errorf("opus: encoding: %v", err)
	}
	return e.packet[:n], nil
}

// Decoder turns packets into PCM at its rate, channels interleaved.
type Decoder struct {
	dec      *libopus.Decoder
	channels int
	pcm      []int16
	last     int // samples per channel of the last packet decoded or concealed
}

// NewDecoder makes a decoder whose output is at rate (8000, 12000, 16000,
// 24000 or 48000) with channels (1 or 2), whatever the packets were made
// at: libopus converts.
func NewDecoder(rate, channels int) (*Decoder, error) {
	dec, err := libopus.NewDecoder(rate, channels)
	if err != nil {
		return nil, fmt.Errorf("opus: decoder at %d Hz, %d channels: %v", rate, channels, err)
	}
	return &Decoder{dec: dec, channels: channels,
		pcm: make([]int16, rate/1000*maxFrameMs*channels), last: rate / 1000 * FrameMs}, nil
}

// Decode returns the audio of one packet; it is valid until the next call.
func (d *Decoder) Decode(packet []byte) ([]int16, error) {
	if len(packet) == 0 {
		return nil, fmt.Errorf("opus: empty packet")
	}
	// The full slice expression keeps libopus within the buffer: hraban/opus
	// passes the slice's capacity as the room there is.
	n, err := d.dec.Decode(packet, d.pcm[:len(d.pcm):len(d.pcm)])
	if err != nil {
		return nil, fmt.Errorf("opus: invalid packet (%v)", err)
	}
	d.last = n
	return d.pcm[:n*d.channels], nil
}

// Conceal returns audio that stands in for one lost packet, as long as the
// last one, made by libopus's packet-loss concealment from what came before.
func (d *Decoder) Conceal() ([]int16, error) {
	n := d.last * d.channels
	if err := d.dec.DecodePLC(d.pcm[:n:n]); err != nil {
		return nil, fmt.Errorf("opus: concealing a lost packet: %v", err)
	}
	return d.pcm[:n], nil
}

// MaxPacketBytes is the largest valid packet (RFC 6716 3.2.5: 48 frames of
// at most 1275 bytes).
const MaxPacketBytes = 48 * maxPacket

// MaxPacketMs is the longest audio one packet holds.
const MaxPacketMs = maxFrameMs

// DecodeRate is the rate to decode at for a call at rate: the call's own
// when libopus decodes to it, else 48 kHz (to be resampled).
func DecodeRate(rate int) int {
	switch rate {
	case 8000, 12000, 16000, 24000, 48000:
		return rate
	}
	return 48000
}
