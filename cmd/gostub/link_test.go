package main

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestFDLinkOwnsSocket: the link takes the socket over from the net
// package (whose poller would otherwise wake for every packet), serves it
// both ways, and closing the link is what the client sees as the end.
func TestFDLinkOwnsSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l, err := newFDLink(server, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write([]byte("x")); err == nil {
		t.Errorf("the net.Conn still writes after newFDLink; want it closed")
	}
	client.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Write([]byte("$qC#b4")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(l, buf, 6)
	if err != nil || string(buf[:n]) != "$qC#b4" {
		t.Fatalf("link read %q, %v", buf[:n], err)
	}
	if _, err := l.Write([]byte("+$QC1#c5")); err != nil {
		t.Fatal(err)
	}
	n, err = io.ReadAtLeast(client, buf, 8)
	if err != nil || string(buf[:n]) != "+$QC1#c5" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}
	l.close()
	if n, err := client.Read(buf); err != io.EOF {
		t.Fatalf("client read after the link closed: %d, %v; want EOF", n, err)
	}
}
