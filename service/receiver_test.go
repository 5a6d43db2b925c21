package service

import "testing"

// TestReceiver: one attach, deliveries until Detach, none after.
func TestReceiver(t *testing.T) {
	var r Receiver
	r.Deliver(Commit{First: 9}) // nobody attached: dropped
	var got []uint64
	if err := r.Attach(nil); err == nil {
		t.Fatal("attached a nil CommitFunc")
	}
	if err := r.Attach(func(c Commit) { got = append(got, c.First) }); err != nil {
		t.Fatal(err)
	}
	if err := r.Attach(func(Commit) {}); err == nil {
		t.Fatal("attached twice")
	}
	r.Deliver(Commit{First: 1})
	r.Detach()
	r.Deliver(Commit{First: 2})
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("delivered %v, want [1]", got)
	}
}
