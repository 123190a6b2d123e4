package stream

import (
	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/g711"
	"github.com/modlisten/mod_listen/go/opus"
	"github.com/modlisten/mod_listen/go/pcm"
	"github.com/modlisten/mod_listen/go/resample"
)

// slackFrames: how far one direction may run ahead of the other before the
// silent side is filled with silence, so stereo and mixed streams keep flowing
// when one party sends nothing, yet stay in step when both do.
const slackFrames = 3

// framer turns captured frames at the codec rate into 20 ms wire frames at
// the stream's rate and mix. It is used by the writer goroutine only, and
// allocates nothing per frame once its buffers have grown.
type framer struct {
	pairer
	mix      string
	outFrame int // samples per 20 ms per channel at the stream rate
	channels int

	left, right  *resample.Resampler
	skip         int     // resampler delay still to drop from the output's start
	outL, outR   []int16 // resampled, not yet sent (stream rate)
	mixed, inter []int16
	enc          frameEncoder
}

// pairer lines the caller's captured audio up with the other party's, 20 ms
// at a time at the codec rate.
type pairer struct {
	twoSided       bool    // the other party's audio is taken
	inFrame        int     // samples per 20 ms at the codec rate
	inL, inR       []int16 // captured, not yet paired
	frameL, frameR []int16
}

func newPairer(twoSided bool, codecRate int) pairer {
	n := codecRate / 50
	p := pairer{twoSided: twoSided, inFrame: n, frameL: make([]int16, n)}
	if twoSided {
		p.frameR = make([]int16, n)
	}
	return p
}

// frameEncoder turns 20 ms of samples at the stream's rate (channels
// interleaved) into one binary frame, valid until the next call.
type frameEncoder interface {
	Encode(samples []int16) ([]byte, error)
}

// sampleEncoder writes each sample in a fixed number of bytes: L16 (two,
// little-endian) and G.711 (one).
type sampleEncoder struct {
	size int // bytes per sample
	put  func(dst []byte, samples []int16)
	wire []byte
}

func newSampleEncoder(size int, put func([]byte, []int16), samples int) *sampleEncoder {
	return &sampleEncoder{size: size, put: put, wire: make([]byte, size*samples)}
}

func (e *sampleEncoder) Encode(samples []int16) ([]byte, error) {
	w := e.wire[:e.size*len(samples)]
	e.put(w, samples)
	return w, nil
}

func newFramer(c *config.Listen, codecRate int) (*framer, error) {
	f := &framer{pairer: newPairer(c.HearsOther(), codecRate), mix: c.MixType, outFrame: c.SampleRate / 50, channels: 1}
	var err error
	if f.left, err = resample.New(codecRate, c.SampleRate); err != nil {
		return nil, err
	}
	if c.MixType == config.Stereo {
		f.channels = 2
		if f.right, err = resample.New(codecRate, c.SampleRate); err != nil {
			return nil, err
		}
	}
	// Dropping the filter's delay at the start (and flushing it at the end)
	// keeps the stream aligned with the call and exactly as long.
	f.skip = f.left.Delay()
	// Scratch only for what the mix uses: most listens are mono.
	if c.MixType == config.Mixed {
		f.mixed = make([]int16, f.inFrame)
	}
	if f.channels == 2 {
		f.inter = make([]int16, 2*f.outFrame)
	}
	switch c.Encoding {
	case config.OpusCode:
		// One encoder for the whole stream: Opus predicts each packet from
		// the ones before.
		if f.enc, err = opus.NewEncoder(c.SampleRate, f.channels, c.Opus); err != nil {
			return nil, err
		}
	case config.Mulaw:
		f.enc = newSampleEncoder(1, g711.EncodeMulawFrame, f.channels*f.outFrame)
	case config.Alaw:
		f.enc = newSampleEncoder(1, g711.EncodeAlawFrame, f.channels*f.outFrame)
	default:
		f.enc = newSampleEncoder(2, pcm.PutLE, f.channels*f.outFrame)
	}
	return f, nil
}

// next takes the next 20 ms of captured audio: the caller's frame and the
// other party's (silence where a side has nothing). ok is false when it is
// not yet time to emit; flush emits whatever is left.
func (p *pairer) next(flush bool) (caller, other []int16, ok bool) {
	nl, nr := len(p.inL), len(p.inR)
	if !p.twoSided {
		nr = 0
	}
	haveL, haveR := nl >= p.inFrame, nr >= p.inFrame
	switch {
	case haveL && (haveR || !p.twoSided || nl >= slackFrames*p.inFrame):
	case haveR && nr >= slackFrames*p.inFrame:
	case flush && (nl > 0 || nr > 0):
	default:
		return nil, nil, false
	}
	caller = take(&p.inL, p.frameL)
	if p.twoSided {
		other = take(&p.inR, p.frameR)
	}
	return caller, other, true
}

// take moves up to one frame from *buf into frame; a short or missing frame
// comes out padded with silence.
func take(buf *[]int16, frame []int16) []int16 {
	b := *buf
	n := copy(frame, b)
	clear(frame[n:])
	*buf = b[:copy(b, b[n:])]
	return frame
}

// add resamples one captured frame pair into the output buffers.
func (f *framer) add(caller, other []int16) {
	switch f.mix {
	case config.Mono:
		f.outL = f.left.Process(f.outL, caller)
	case config.Mixed:
		pcm.Mix(f.mixed, caller, other)
		f.outL = f.left.Process(f.outL, f.mixed)
	case config.Stereo:
		f.outL = f.left.Process(f.outL, caller)
		f.outR = f.right.Process(f.outR, other)
	}
	dropDelay(&f.skip, &f.outL, &f.outR)
}

// dropDelay drops what is left of the resamplers' delay (*skip samples) from
// the front of their output, so that it starts with the input's first
// sample; r may be empty (one channel).
func dropDelay(skip *int, l, r *[]int16) {
	if *skip == 0 {
		return
	}
	n := min(*skip, len(*l))
	*l = (*l)[:copy(*l, (*l)[n:])]
	if len(*r) > 0 {
		*r = (*r)[:copy(*r, (*r)[n:])]
	}
	*skip -= n
}

// flushResamplers pushes the resamplers' delayed tail into the output.
func (f *framer) flushResamplers() {
	f.outL = f.left.Flush(f.outL)
	if f.right != nil {
		f.outR = f.right.Flush(f.outR)
	}
}

// wireFrame returns the next 20 ms binary frame, or nil. With pad, a short
// last frame is completed with silence so every frame has the same length.
func (f *framer) wireFrame(pad bool) ([]byte, error) {
	n := len(f.outL)
	if n == 0 || n < f.outFrame && !pad {
		return nil, nil
	}
	for len(f.outL) < f.outFrame {
		f.outL = append(f.outL, 0)
	}
	var samples []int16
	if f.channels == 2 {
		for len(f.outR) < f.outFrame {
			f.outR = append(f.outR, 0)
		}
		pcm.Interleave(f.inter, f.outL[:f.outFrame], f.outR[:f.outFrame])
		f.outR = f.outR[:copy(f.outR, f.outR[f.outFrame:])]
		samples = f.inter
	} else {
		samples = f.outL[:f.outFrame]
	}
	frame, err := f.enc.Encode(samples)
	f.outL = f.outL[:copy(f.outL, f.outL[f.outFrame:])]
	return frame, err
}
