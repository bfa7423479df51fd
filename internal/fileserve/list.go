package fileserve

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/peerio"
	"github.com/sigride/sigride/internal/wire"
)

// listChunk is the largest piece a listing is built in; the first is
// listFirstChunk and each next one as large as the listing so far: no
// piece is copied to grow it, so a listing costs its own size in memory
// and at most one piece more, and a small one no more than itself.
const (
	listChunk      = 1 << 20
	listFirstChunk = 16 << 10
)

// maxListings is how many listings a Server holds at once, built or being
// sent. A listing is one walk of the library, shared by every LIST that
// arrives while it is built (two hundred clients listing at once cost one
// walk), and held until the last of them has written it, for as long as
// its peer keeps reading (each write within Idle). A LIST that finds no
// listing being built and maxListings held waits for one to end, at most
// Idle, then is answered 23 busy. Without this bound, peers that send LIST
// and read nothing each pin a whole listing, and a few dozen take a
// process's memory.
//
// So what LIST costs a Server in memory is at most maxListings times one
// listing: its body (at most wire.MaxListBody, 64 MiB) plus its walk's
// names (one sorted directory per level, within library.MaxListVisits
// entries), and the GC's slack on top.
const maxListings = 2

// listing is one walk of the library and what it answers: OK with the
// body, or an error.
type listing struct {
	done  chan struct{} // closed once built
	resp  wire.Response
	body  [][]byte
	users int // the LISTs sending it or waiting for it; guarded by Server.listMu
}

// list answers LIST with the listing being built, or a new one: built as
// the library is walked and never past what a client accepts
// (wire.MaxListBody): a library grown past that is refused at once with
// 25, which says so, not sent for the client to refuse.
func (s *Server) list(c *peerio.Conn) bool {
	l := s.joinListing()
	if l == nil {
		s.logf("%s: list: %d listings already under way for %v; refused", c.RemoteAddr(), maxListings, s.idle())
		return s.reply(c, wire.Response{Status: wire.ErrBusy, Message: "too many listings under way on this worker; try again"}) == nil
	}
	defer s.leaveListing(l)
	<-l.done
	if l.resp.Status != wire.StatusOK {
		return s.reply(c, l.resp) == nil
	}
	_, err := c.Writev(append([][]byte{wire.AppendResponse(nil, l.resp)}, l.body...))
	return err == nil
}

// joinListing returns the listing being built, or builds one if a token
// of s.lists comes within Idle; nil if none does.
func (s *Server) joinListing() *listing {
	s.listMu.Lock()
	if l := s.building; l != nil {
		l.users++
		s.listMu.Unlock()
		return l
	}
	s.listMu.Unlock()
	wait := time.NewTimer(s.idle())
	defer wait.Stop()
	select {
	case s.lists <- struct{}{}:
	case <-wait.C:
		return nil
	}
	s.listMu.Lock()
	if l := s.building; l != nil { // begun while we waited: share it
		l.users++
		s.listMu.Unlock()
		<-s.lists
		return l
	}
	l := &listing{done: make(chan struct{}), users: 1}
	s.building = l
	s.listMu.Unlock()
	l.resp, l.body = s.buildListing()
	s.listMu.Lock()
	s.building = nil
	s.listMu.Unlock()
	close(l.done)
	return l
}

// leaveListing lets go of a listing; the last to leave gives its token
// back.
func (s *Server) leaveListing(l *listing) {
	s.listMu.Lock()
	l.users--
	last := l.users == 0
	s.listMu.Unlock()
	if last {
		<-s.lists
	}
}

// buildListing walks the library into a listing's answer and body.
func (s *Server) buildListing() (wire.Response, [][]byte) {
	var body [][]byte
	var size int
	var encErr error
	sum := sha256.New()
	lim := library.ListLimit{Bytes: wire.MaxListBody, PerEntry: wire.EntryFixed}
	unlisted, err := s.Store.List(lim, func(e library.Entry) {
		n := len(body) - 1
		if n < 0 || len(body[n])+wire.EntryFixed+len(e.Name) > cap(body[n]) {
			body = append(body, make([]byte, 0, min(max(listFirstChunk, size, wire.EntryFixed+len(e.Name)), listChunk)))
			n++
		}
		before := len(body[n])
		var err error
		// The library lists only names CheckName takes, which the wire
		// carries: a refusal here is a bug, and costs only its entry.
		if body[n], err = wire.AppendEntry(body[n], wire.Entry{Name: e.Name, Size: uint64(e.Size), ModTime: e.ModTime}); err != nil && encErr == nil {
			encErr = fmt.Errorf("%q: %w", e.Name, err)
		}
		sum.Write(body[n][before:])
		size += len(body[n]) - before
	})
	if unlisted.Count > 0 {
		s.logf("list: %d names no client can use left out (%q the first); rename them", unlisted.Count, unlisted.First)
	}
	if encErr != nil {
		s.logf("list: entry left out: %v", encErr)
	}
	switch {
	case errors.Is(err, library.ErrTooLarge):
		s.logf("list: %v", err)
		return wire.Response{Status: wire.ErrInternal, Message: "the library is too large to list"}, nil
	case err != nil:
		s.logf("list: %v", err)
		return wire.Response{Status: wire.ErrInternal, Message: err.Error()}, nil
	}
	return wire.Response{Status: wire.StatusOK, Size: uint64(size), Sum: [wire.SumSize]byte(sum.Sum(nil))}, body
}
