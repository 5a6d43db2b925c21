package service

import (
	"fmt"
	"strings"
	"testing"

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
