package wsdial

import (
	"context"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialUnblocked dials a server and makes its writes non-blocking.
func dialUnblocked(t *testing.T, url string) *Conn {
	t.Helper()
	conn, err := Dial(context.Background(), Options{URL: url, Timeout: 5 * time.Second, SendBuffer: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Unblock(); err != nil {
		t.Fatal(err)
	}
	return conn
}

// A server that reads nothing for a while: every write returns at once, what
// the socket did not take is kept, and once the server reads, Flush delivers
// all of it in order.
func TestUnblockedWritesKeepWhatTheSocketCannotTake(t *testing.T) {
	const size = 16 << 10
	read := make(chan struct{})
	got := make(chan []int, 1)
	msgs := make(chan int, 1)
	url := upgradeServer(t, func(c *websocket.Conn) {
		<-read
		want := <-msgs
		var order []int
		for len(order) < want {
			_, b, err := c.ReadMessage()
			if err != nil || len(b) != size {
				break
			}
			order = append(order, int(binary.LittleEndian.Uint32(b)))
		}
		got <- order
	})
	conn := dialUnblocked(t, url)
	msg := make([]byte, size)
	// Until the socket keeps some back, then four more.
	sent, extra := 0, 0
	for extra < 4 {
		binary.LittleEndian.PutUint32(msg, uint32(sent))
		done := make(chan error, 1)
		go func() { done <- conn.WriteMessage(websocket.BinaryMessage, msg) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("write %d: %v", sent, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d blocked on a server that does not read", sent)
		}
		sent++
		if conn.Queued() > 0 {
			extra++
		}
	}
	queued := conn.Queued()
	if queued < 3*size || queued > 5*(size+14) {
		t.Fatalf("%d bytes kept, want about the last four messages' (more than three, at most five)", queued)
	}
	msgs <- sent
	close(read)
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := conn.Queued(); n != 0 {
		t.Fatalf("%d bytes kept after Flush", n)
	}
	order := <-got
	for i, v := range order {
		if v != i {
			t.Fatalf("message %d arrived as number %d", v, i)
		}
	}
	if len(order) != sent {
		t.Fatalf("%d messages arrived, want %d", len(order), sent)
	}
	t.Logf("%d KiB were kept while the server did not read", queued>>10)
}

// A Flush blocked on a server that never reads gives up at the flush
// deadline, set before or while it waits; the connection then refuses
// writes.
func TestFlushDeadline(t *testing.T) {
	conn := dialUnblocked(t, upgradeServer(t, func(*websocket.Conn) {}))
	// Well past what the server's kernel takes without reading.
	for conn.Queued() < 192<<10 {
		if err := conn.WriteMessage(websocket.BinaryMessage, make([]byte, 16<<10)); err != nil {
			t.Fatal(err)
		}
	}
	flushed := make(chan error, 1)
	go func() { flushed <- conn.Flush() }()
	time.Sleep(50 * time.Millisecond) // the flush is blocked by now, or soon will be
	conn.SetFlushDeadline(time.Now().Add(100 * time.Millisecond))
	select {
	case err := <-flushed:
		if !os.IsTimeout(err) {
			t.Fatalf("flush error %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the flush did not give up")
	}
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte{1}); err == nil {
		t.Fatal("a write after the failed flush succeeded")
	}
}

// Writes to a socket that takes nothing are kept up to maxQueued; past it
// the connection fails, saying why.
func TestQueueBound(t *testing.T) {
	conn := dialUnblocked(t, upgradeServer(t, func(*websocket.Conn) {}))
	var err error
	written := 0
	for err == nil && written < 64*maxQueued {
		err = conn.WriteMessage(websocket.BinaryMessage, make([]byte, 16<<10))
		written += 16 << 10
	}
	want := "over 256 KiB wait for a server that does not read"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v after %d KiB, want %q", err, written>>10, want)
	}
	if n := conn.Queued(); n > maxQueued {
		t.Fatalf("%d bytes kept, over the bound", n)
	}
}

// A server that pings without reading gets its pongs kept up to the bound,
// and then loses the connection: its pings cannot make the engine hold more.
func TestPingFloodIsBounded(t *testing.T) {
	url := upgradeServer(t, func(c *websocket.Conn) {
		payload := make([]byte, 125)
		for c.WriteControl(websocket.PingMessage, payload, time.Now().Add(time.Second)) == nil {
		}
	})
	conn := dialUnblocked(t, url)
	_, _, err := conn.ReadMessage() // answers each ping with a pong, queued
	want := "over 256 KiB wait for a server that does not read"
	if err == nil || err.Error() != want {
		t.Fatalf("read error %v, want %q", err, want)
	}
	if n := conn.Queued(); n > maxQueued {
		t.Fatalf("%d bytes kept, over the bound", n)
	}
}
