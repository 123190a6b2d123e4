// Package actionhook tells the application how a listen ended: one HTTP
// request to the verb's actionHook, bounded in time so a slow or dead hook
// never holds up a call's teardown.
package actionhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/redact"
)

// maxResponse bounds what is kept of the hook's answer for the host.
const maxResponse = 64 << 10

var client = &http.Client{
	Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Result is the hook's answer.
type Result struct {
	Status   int
	Body     []byte
	Attempts int
}

// Post sends body to the hook, retrying network errors up to retries more
// times, and gives up when timeout has passed in all. An HTTP error status is
// an answer, not a network error: it is returned, not retried.
func Post(ctx context.Context, h *config.Hook, body []byte, timeout time.Duration, retries int) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res Result
	backoff := 100 * time.Millisecond
	for {
		res.Attempts++
		status, answer, err := once(ctx, h, body)
		if err == nil {
			res.Status, res.Body = status, answer
			return res, nil
		}
		if ctx.Err() != nil {
			return res, gaveUp(ctx, h, timeout, res.Attempts)
		}
		if res.Attempts > retries {
			return res, fmt.Errorf("%s %s: %v (%d attempts)", name(h), redact.URL(h.URL), err, res.Attempts)
		}
		select {
		case <-time.After(backoff):
			backoff *= 2
		case <-ctx.Done():
			return res, gaveUp(ctx, h, timeout, res.Attempts)
		}
	}
}

func gaveUp(ctx context.Context, h *config.Hook, timeout time.Duration, attempts int) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: no answer within %v (%d attempts)", name(h), redact.URL(h.URL), timeout, attempts)
	}
	return fmt.Errorf("%s %s: cancelled (%d attempts)", name(h), redact.URL(h.URL), attempts)
}

// name is what errors call the hook.
func name(h *config.Hook) string {
	if h.Name != "" {
		return h.Name
	}
	return "action hook"
}

func once(ctx context.Context, h *config.Hook, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mod_listen")
	if h.Username != "" || h.Password != "" {
		req.SetBasicAuth(h.Username, h.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // the URL is said once, by the caller
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, answer, nil
}
