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
	const msgs, size = 100, 16 << 10
	read := make(chan struct{})
	got := make(chan []int, 1)
	url := upgradeServer(t, func(c *websocket.Conn) {
		<-read
		var order []int
		for len(order) < msgs {
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
	for i := range msgs {
		binary.LittleEndian.PutUint32(msg, uint32(i))
		done := make(chan error, 1)
		go func() { done <- conn.WriteMessage(websocket.BinaryMessage, msg) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d blocked on a server that does not read", i)
		}
	}
	queued := conn.Queued()
	if queued == 0 || queued > msgs*(size+14) {
		t.Fatalf("%d bytes kept, want some and at most what was written", queued)
	}
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
	if len(order) != msgs {
		t.Fatalf("%d messages arrived, want %d", len(order), msgs)
	}
	t.Logf("%d KiB were kept while the server did not read", queued>>10)
}

// A Flush blocked on a server that never reads gives up at the flush
// deadline, set before or while it waits; the connection then refuses
// writes.
func TestFlushDeadline(t *testing.T) {
	conn := dialUnblocked(t, upgradeServer(t, func(*websocket.Conn) {}))
	// More than the server's kernel will ever take without reading.
	for conn.Queued() < 1<<20 {
		if err := conn.WriteMessage(websocket.BinaryMessage, make([]byte, 64<<10)); err != nil {
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
	for err == nil && written < 2*maxQueued {
		err = conn.WriteMessage(websocket.BinaryMessage, make([]byte, 64<<10))
		written += 64 << 10
	}
	want := "the server has taken nothing of the last 4096 KiB sent"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v after %d KiB, want %q", err, written>>10, want)
	}
}
