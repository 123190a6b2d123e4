// Package playback orders what the server sends back into the call: queued
// playAudio clips, streamed audio with its marks, and the beep. It feeds the
// host's playback ring ahead of the media thread and learns from the ring's
// read position when each clip or mark has really been played.
package playback

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/modlisten/mod_listen/go/budget"
	"github.com/modlisten/mod_listen/go/histogram"
)

// Ring is the producer side of the host's playback ring.
type Ring interface {
	Space() int
	Write(src []int16) int
	Consumed() uint64 // samples the host has taken or skipped
	Written() uint64  // samples ever written
	Discard()         // the host skips everything written so far
}

type kind int

const (
	clip kind = iota
	streamed
	beep
	mark
)

// segment is one unit in play order. Positions count every sample ever
// queued (queue space); they become ring positions by adding delta.
type segment struct {
	kind    kind
	samples []int16
	off     int
	id      json.RawMessage // clip id or mark name
	start   uint64          // queue position of the segment's first sample
	end     uint64          // queue position after the segment's last sample
	started bool            // written into the ring, at least in part
	playing bool            // its first sample has been played
	arrived time.Time       // streamed: when its first audio came
}

// Notice is something the stream tells the server and the host.
type Notice struct {
	Event string          // host event name: play_start, play_done, mark
	ID    json.RawMessage // clip id or mark name
}

// Player is safe for use by the reader (enqueue, kill) and the writer (service).
type Player struct {
	mu        sync.Mutex
	ring      Ring
	rate      int
	maxQueued int
	jitter    int // samples streamed audio waits for when playback is idle

	segs    []*segment // in play order; the first may be partly written
	queued  uint64     // queue position after everything ever queued
	written uint64     // queue position written into the ring
	delta   uint64     // ring position = queue position + delta
	inRing  []*segment // written whole or in part, waiting to be played out

	// MaxQueuedSamples bounds the audio waiting to be written (0: no bound).
	MaxQueuedSamples int
	// MaxQueuedMarks bounds the marks waiting to be played out (0: no bound).
	MaxQueuedMarks int
	// Budget, when set, holds 2 bytes for every sample waiting to be written.
	Budget *budget.Budget
	marks  int  // marks queued and not yet played out or cleared
	closed bool // the stream is over: nothing more is queued

	// Latency, when set, gets the time from the arrival of each piece of
	// streamed audio to the playing of its first sample.
	Latency  *histogram.Histogram
	arrivals []arrival
}

type arrival struct {
	pos uint64 // queue position of the first sample
	at  time.Time
}

// New makes a player for a call at rate Hz.
func New(ring Ring, rate, maxQueued, jitterMs int) *Player {
	return &Player{ring: ring, rate: rate, maxQueued: maxQueued, jitter: rate * jitterMs / 1000,
		delta: ring.Written()}
}

// ErrQueueFull is returned when maxQueued clips already wait.
type ErrQueueFull struct{ Max int }

func (e ErrQueueFull) Error() string {
	return fmt.Sprintf("playAudio refused: %d clips are already queued (the limit)", e.Max)
}

// Clip queues a clip (samples at the call's rate).
func (p *Player) Clip(samples []int16, id json.RawMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.clipFits(len(samples)); err != nil {
		return err
	}
	if err := p.Budget.Take(2 * len(samples)); err != nil {
		return fmt.Errorf("playAudio refused: %w", err)
	}
	p.add(&segment{kind: clip, samples: samples, id: id})
	return nil
}

// ClipFits tells whether a clip of n samples (at the call's rate) would be
// queued now, so a clip can be refused before it is decoded.
func (p *Player) ClipFits(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clipFits(n)
}

// ErrClosed refuses audio that comes after the stream's end.
var ErrClosed = errors.New("audio refused: the listen is over")

func (p *Player) clipFits(n int) error {
	if p.closed {
		return ErrClosed
	}
	waiting := 0
	for _, s := range p.segs {
		if s.kind == clip && !s.started {
			waiting++
		}
	}
	if waiting >= p.maxQueued {
		return ErrQueueFull{p.maxQueued}
	}
	if err := p.fits(n); err != nil {
		return fmt.Errorf("playAudio refused: %v", err)
	}
	return nil
}

// StreamFits tells whether n samples of streamed audio (at the call's rate)
// would be queued now, so they can be refused before they are resampled.
func (p *Player) StreamFits(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fits(n); err != nil {
		return fmt.Errorf("streamed audio refused: %v", err)
	}
	return nil
}

// fits checks the limits on queued audio; the caller holds p.mu.
func (p *Player) fits(n int) error {
	if p.closed {
		return ErrClosed
	}
	if p.MaxQueuedSamples == 0 {
		return nil
	}
	waiting := p.queued - p.written
	if waiting+uint64(n) > uint64(p.MaxQueuedSamples) {
		return fmt.Errorf("%.1f s of audio would be waiting, over the limit of %.1f s",
			float64(waiting+uint64(n))/float64(p.rate), float64(p.MaxQueuedSamples)/float64(p.rate))
	}
	return nil
}

// Beep queues a tone of our own: no playDone goes to the server for it.
func (p *Player) Beep(samples []int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.Budget.Force(2 * len(samples))
	p.add(&segment{kind: beep, samples: samples})
}

// Stream appends streamed audio (at the call's rate).
func (p *Player) Stream(samples []int16, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fits(len(samples)); err != nil {
		return fmt.Errorf("streamed audio refused: %v", err)
	}
	if err := p.Budget.Take(2 * len(samples)); err != nil {
		return fmt.Errorf("streamed audio refused: %w", err)
	}
	if p.Latency != nil {
		p.arrivals = append(p.arrivals, arrival{pos: p.queued, at: now})
	}
	if n := len(p.segs); n > 0 && p.segs[n-1].kind == streamed {
		last := p.segs[n-1]
		if last.off > 0 && last.off >= len(last.samples)/2 {
			// Drop the played head: a server that keeps streaming ahead of
			// the call never lets the segment end, and it would otherwise
			// grow for as long as the call lasts.
			k := copy(last.samples, last.samples[last.off:])
			last.samples = last.samples[:k]
			last.start += uint64(last.off)
			last.off = 0
		}
		last.samples = append(last.samples, samples...)
		last.end += uint64(len(samples))
		p.queued += uint64(len(samples))
		return nil
	}
	p.add(&segment{kind: streamed, samples: append([]int16(nil), samples...), arrived: now})
	return nil
}

// Mark queues a mark after the audio queued so far.
func (p *Player) Mark(name json.RawMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.MaxQueuedMarks > 0 && p.marks >= p.MaxQueuedMarks {
		return fmt.Errorf("mark refused: %d marks are already waiting to be played out (the limit, maxQueuedMarks)", p.marks)
	}
	p.marks++
	p.add(&segment{kind: mark, id: name})
	return nil
}

func (p *Player) add(s *segment) {
	s.start = p.queued
	p.queued += uint64(len(s.samples))
	s.end = p.queued
	p.segs = append(p.segs, s)
}

// Kill discards everything queued and in the ring. It returns the marks that
// were cleared, in order, and how many clips were discarded.
func (p *Player) Kill() (cleared []json.RawMessage, clips int) {
	ids, cleared := p.Abandon()
	return cleared, len(ids)
}

// Abandon discards everything queued and in the ring, like Kill, and returns
// the ids of the clips (nil for a clip without one) and the names of the
// marks it discarded, each in order.
func (p *Player) Abandon() (clips, marks []json.RawMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A started segment is in inRing, and still in segs while partly
	// written: count it once.
	all := append([]*segment(nil), p.inRing...)
	for _, s := range p.segs {
		if !s.started {
			all = append(all, s)
		}
	}
	for _, s := range all {
		switch s.kind {
		case mark:
			marks = append(marks, s.id)
		case clip:
			clips = append(clips, s.id)
		}
	}
	p.ring.Discard()
	p.segs, p.inRing, p.arrivals = nil, nil, nil
	p.marks = 0
	p.Budget.Give(2 * int(p.queued-p.written))
	p.written = p.queued
	p.delta = p.ring.Written() - p.queued
	return clips, marks
}

// Close gives back the budget of everything still waiting (the stream is
// over).
func (p *Player) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Budget.Give(2 * int(p.queued-p.written))
	p.written = p.queued
	p.segs = nil
	p.closed = true
}

// Busy tells whether anything is queued or still playing.
func (p *Player) Busy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.segs) > 0 || len(p.inRing) > 0
}

// Service writes what fits into the ring and reports what started and what
// has been played out since the last call.
func (p *Player) Service(now time.Time, out []Notice) []Notice {
	p.mu.Lock()
	defer p.mu.Unlock()
	played := p.ring.Consumed()
	for len(p.arrivals) > 0 && p.arrivals[0].pos+p.delta < played {
		p.Latency.Record(now.Sub(p.arrivals[0].at))
		p.arrivals = p.arrivals[1:]
	}
	// A clip starts when its first sample is played, and is done when its
	// last one is, so one clip's playDone precedes the next one's start.
	i := 0
	for ; i < len(p.inRing); i++ {
		s := p.inRing[i]
		if s.kind == clip && !s.playing && (s.start+p.delta < played || s.end+p.delta <= played) {
			s.playing = true
			out = append(out, Notice{Event: "play_start", ID: s.id})
		}
		if s.end+p.delta > played {
			break
		}
		switch s.kind {
		case clip:
			out = append(out, Notice{Event: "play_done", ID: s.id})
		case mark:
			p.marks--
			out = append(out, Notice{Event: "mark", ID: s.id})
		}
	}
	p.inRing = p.inRing[i:]
	idle := p.ring.Written() == played
	for len(p.segs) > 0 {
		s := p.segs[0]
		if s.kind == streamed && idle && !s.started {
			buffered := len(s.samples) - s.off
			if buffered < p.jitter && now.Sub(s.arrived) < time.Duration(p.jitter)*time.Second/time.Duration(p.rate) && !p.boundaryAfter() {
				break // let the jitter buffer fill before starting
			}
		}
		if !s.started {
			s.started = true
			p.inRing = append(p.inRing, s)
		}
		n := p.ring.Write(s.samples[s.off:])
		s.off += n
		p.written += uint64(n)
		p.Budget.Give(2 * n)
		if s.off < len(s.samples) {
			break // ring full
		}
		s.samples = nil
		p.segs = p.segs[1:]
		idle = false
	}
	return out
}

// boundaryAfter: a mark or clip behind the streamed audio means the server
// has finished this stretch, so there is nothing to wait for.
func (p *Player) boundaryAfter() bool { return len(p.segs) > 1 }
