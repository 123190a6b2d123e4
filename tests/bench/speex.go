package main

/*
#cgo LDFLAGS: -lspeexdsp
#include <stdlib.h>
#include <unistd.h>
#include <speex/speex_resampler.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/modlisten/mod_listen/go/resample"
)

// speex is one speexdsp resampler, the converter the reference modules use
// (mod_audio_fork and mod_audio_stream create theirs at quality 2).
type speex struct {
	st       *C.SpeexResamplerState
	from, to int
	out      []int16
}

func newSpeex(from, to, quality int) (*speex, error) {
	var e C.int
	st := C.speex_resampler_init(1, C.spx_uint32_t(from), C.spx_uint32_t(to), C.int(quality), &e)
	if st == nil {
		return nil, fmt.Errorf("speex_resampler_init(%d -> %d, q%d): %s", from, to, quality,
			C.GoString(C.speex_resampler_strerror(e)))
	}
	s := &speex{st: st, from: from, to: to}
	runtime.AddCleanup(s, func(st *C.SpeexResamplerState) { C.speex_resampler_destroy(st) }, st)
	return s, nil
}

// latency is the resampler's delay in output samples.
func (s *speex) latency() int { return int(C.speex_resampler_get_output_latency(s.st)) }

// process converts in and returns the output (reused by the next call),
// looping until speexdsp has taken every input sample.
func (s *speex) process(in []int16) []int16 {
	s.out = s.out[:0]
	for len(in) > 0 {
		want := len(in)*s.to/s.from + 64
		if cap(s.out)-len(s.out) < want {
			grown := make([]int16, len(s.out), len(s.out)+want)
			copy(grown, s.out)
			s.out = grown
		}
		free := s.out[len(s.out):cap(s.out)]
		inLen, outLen := C.spx_uint32_t(len(in)), C.spx_uint32_t(len(free))
		C.speex_resampler_process_int(s.st, 0, (*C.spx_int16_t)(unsafe.Pointer(&in[0])), &inLen,
			(*C.spx_int16_t)(unsafe.Pointer(&free[0])), &outLen)
		if inLen == 0 && outLen == 0 {
			break
		}
		in = in[inLen:]
		s.out = s.out[:len(s.out)+int(outLen)]
	}
	return s.out
}

func speexProcessor(from, to, quality int) (mk func() resample.Processor, delay int, err error) {
	probe, err := newSpeex(from, to, quality)
	if err != nil {
		return nil, 0, err
	}
	return func() resample.Processor {
		s, err := newSpeex(from, to, quality)
		if err != nil {
			panic(err)
		}
		return s.process
	}, probe.latency(), nil
}

// clockTicks is the unit of the CPU times in /proc/<pid>/stat.
func clockTicks() float64 { return float64(C.sysconf(C._SC_CLK_TCK)) }
