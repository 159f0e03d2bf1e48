package sqlstore

import (
	"errors"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/store"
)

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(time.Unix(1_800_000_000, 123_000), "0b9c2d3e-1111-4222-8333-944455556666"))
	f.Add("")
	f.Add("bm90LWEtY3Vyc29y")
	f.Add("MTIzLA")

	f.Fuzz(func(t *testing.T, cursor string) {
		at, id, err := decodeCursor(cursor)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidCursor) {
				t.Fatalf("error %v does not wrap ErrInvalidCursor", err)
			}
			return
		}
		// A cursor that decodes must encode back to one that decodes the same.
		again, id2, err := decodeCursor(encodeCursor(at, id))
		if err != nil || !again.Equal(at) || id2 != id {
			t.Errorf("round trip of %q: %v %q %v, want %v %q", cursor, again, id2, err, at, id)
		}
	})
}
