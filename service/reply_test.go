package service

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/evlog/evlog/messages"
)

func TestAppendOffsets(t *testing.T) {
	for _, v := range []uint64{0, 1, 200, 70000, 1 << 40} {
		var rep messages.AppendReply
		if err := messages.Unmarshal(appendOffsets(nil, "first_offset", v, "last_offset", v+1), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.FirstOffset != v || rep.LastOffset != v+1 {
			t.Fatalf("got %+v for %d", rep, v)
		}
	}
}

func TestDescribe(t *testing.T) {
	got := describe(messages.CodeBadRequest, fmt.Errorf("%w: key %q\r\nInjected: yes", ErrBadRequest, "a\nb"))
	if strings.ContainsAny(got, "\r\n") || !strings.HasPrefix(got, "bad request: ") {
		t.Fatalf("describe: %q", got)
	}
}

// replyCounter is a request whose replies note what the metrics had
// counted for them by the time they were sent.
type replyCounter struct {
	micro.Request
	m    *metrics
	code int
	seen uint64
}

func (r *replyCounter) Respond([]byte, ...micro.RespondOpt) error {
	r.seen = r.m.requests[epInfo][codeIndex(r.code)].Load()
	return nil
}

func (r *replyCounter) Error(string, string, []byte, ...micro.RespondOpt) error {
	r.seen = r.m.requests[epInfo][codeIndex(r.code)].Load()
	return nil
}

// TestObserveCountsBeforeReplying: a request is counted before its reply
// goes out, so that a client that has its answer and then reads the
// metrics finds it counted. They were counted once the handler returned,
// after the reply, and a scrape right after an answer missed it.
func TestObserveCountsBeforeReplying(t *testing.T) {
	s := &Service{}
	s.metrics = newMetrics(s, nil)
	for _, tc := range []struct {
		name  string
		code  int
		reply func(micro.Request)
	}{
		{"respond", codeOK, func(r micro.Request) { _ = r.Respond(nil) }},
		{"error", messages.CodeTooLarge, func(r micro.Request) {
			_ = r.Error(strconv.Itoa(messages.CodeTooLarge), "too large", nil)
		}},
	} {
		r := &replyCounter{m: s.metrics, code: tc.code}
		s.observe(epInfo, tc.reply)(r)
		if r.seen != 1 {
			t.Errorf("%s: %d requests counted when the reply went out, want 1", tc.name, r.seen)
		}
	}
}
