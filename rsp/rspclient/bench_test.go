package rspclient

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// BenchmarkRecv measures decoding a 9215-byte m reply (18430 hex digits,
// gdbserver's largest), the client-side cost in rspbench's mem64m op.
func BenchmarkRecv(b *testing.B) {
	data := make([]byte, 9215)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	frame := Frame(CompressRLE([]byte(hex.EncodeToString(data))))
	stream := bytes.Repeat(frame, 64)
	b.SetBytes(int64(len(frame)))
	r := bytes.NewReader(stream)
	c := New(bytesConn{r})
	c.SetNoAck(true)
	for b.Loop() {
		if r.Len() == 0 {
			r.Reset(stream)
		}
		if _, err := c.RecvBytes(); err != nil {
			b.Fatal(err)
		}
	}
}
