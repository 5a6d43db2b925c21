package segment_test

import (
	"fmt"
	"log"
	"os"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// Example embeds the log: it opens one in a fresh directory, appends a
// record and a batch, and reads them back.
func Example() {
	dir, err := os.MkdirTemp("", "evlog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := segment.NewLog(dir, segment.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	off, err := l.Append(&messages.Record{Key: []byte("greeting"), Value: []byte("hello")})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := l.AppendBatch([]*messages.Record{{Value: []byte("one")}, {Value: []byte("two")}}); err != nil {
		log.Fatal(err)
	}
	for o := off; o < l.NextOffset(); o++ {
		r, err := l.Read(o)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s\n", r.Offset, r.Value)
	}
	st := l.Stats()
	fmt.Printf("segments %d, offsets [%d, %d)\n", st.Segments, st.LowestOffset, st.NextOffset)
	// Output:
	// 0 hello
	// 1 one
	// 2 two
	// segments 1, offsets [0, 3)
}
