package main

/*
#cgo LDFLAGS: -lsoxr
#include <soxr.h>
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/modlisten/mod_listen/go/resample"
)

// soxr is one libsoxr resampler at its HQ setting (20-bit precision), the
// cost the engine's resampler is held to.
type soxr struct {
	s        C.soxr_t
	from, to int
	out      []int16
}

func newSoxr(from, to int) (*soxr, error) {
	io := C.soxr_io_spec(C.SOXR_INT16_I, C.SOXR_INT16_I)
	q := C.soxr_quality_spec(C.SOXR_HQ, 0)
	var e C.soxr_error_t
	s := C.soxr_create(C.double(from), C.double(to), 1, &e, &io, &q, nil)
	if e != nil {
		return nil, fmt.Errorf("soxr_create(%d -> %d): %s", from, to, C.GoString(e))
	}
	x := &soxr{s: s, from: from, to: to}
	runtime.AddCleanup(x, func(s C.soxr_t) { C.soxr_delete(s) }, s)
	return x, nil
}

// process converts in and returns the output (reused by the next call),
// looping until libsoxr has taken every input sample. libsoxr keeps back
// what its filter still needs, so a call may return a few samples fewer or
// more than the ratio; over a stream they even out.
func (x *soxr) process(in []int16) []int16 {
	x.out = x.out[:0]
	for len(in) > 0 {
		want := len(in)*x.to/x.from + 64
		if cap(x.out)-len(x.out) < want {
			grown := make([]int16, len(x.out), len(x.out)+want)
			copy(grown, x.out)
			x.out = grown
		}
		free := x.out[len(x.out):cap(x.out)]
		var idone, odone C.size_t
		C.soxr_process(x.s, C.soxr_in_t(unsafe.Pointer(&in[0])), C.size_t(len(in)), &idone,
			C.soxr_out_t(unsafe.Pointer(&free[0])), C.size_t(len(free)), &odone)
		if idone == 0 && odone == 0 {
			break
		}
		in = in[idone:]
		x.out = x.out[:len(x.out)+int(odone)]
	}
	return x.out
}

// soxrProcessor makes libsoxr HQ converters. libsoxr trims its filter's
// delay itself, so its output starts with the filter's warm-up on the
// silence before the input; the delay given to the measurement, which skips
// twice it, is what libsoxr reports holding after one 20 ms frame.
func soxrProcessor(from, to int) (mk func() resample.Processor, delay int, err error) {
	probe, err := newSoxr(from, to)
	if err != nil {
		return nil, 0, err
	}
	probe.process(make([]int16, from/50))
	return func() resample.Processor {
		x, err := newSoxr(from, to)
		if err != nil {
			panic(err)
		}
		return x.process
	}, int(math.Ceil(float64(C.soxr_delay(probe.s)))), nil
}
